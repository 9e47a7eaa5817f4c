"""modcore's version, written once: ``modcore.__version__`` and the wheel's metadata
(pyproject.toml reads it from here) both come from this line."""

__version__ = "0.1.0"
