"""Sub-modules reached as attributes (``modcore.report.verdict.verdict`` after ``import
modcore`` alone), imported on first use: a package's optional dependencies (torch,
matplotlib) load only when a name that needs them is used, and a missing one raises its
ImportError then."""

from __future__ import annotations

import importlib
import importlib.util

__all__ = ["submodule_getattr"]


def submodule_getattr(package: str):
    """A module ``__getattr__`` (PEP 562) for ``package`` that imports its sub-modules."""

    def __getattr__(name: str):
        if not name.startswith("_") and importlib.util.find_spec(f"{package}.{name}"):
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
