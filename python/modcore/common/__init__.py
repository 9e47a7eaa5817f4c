"""The bottom layer: what every stage shares and that knows nothing of networks.

Progress bars, atomic files and result logs, run-log row schemas, the argument types of the
public API, rounding, the version and the rich-display hook of the result types.
"""
