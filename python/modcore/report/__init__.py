"""What a person reads: figures, the HTML report, verdicts in words and the notebook display
of the result types (which reach this layer only through :mod:`modcore.common.display`)."""
