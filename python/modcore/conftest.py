"""pytest's run of the docstring examples, over the installed package or the checkout:

    python -m pytest -q --doctest-modules --pyargs modcore

Where an optional dependency (torch, matplotlib) is not installed, a module that cannot be
imported without it is not collected, and an example that fails for want of it is skipped,
with the reason. (In the package, as scikit-learn's and numpy's conftest.py are, so that --pyargs
finds it.)
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
from collections.abc import Callable
from pathlib import Path

import pytest

#: Optional dependency -> the extra that installs it.
EXTRAS = {"torch": "torch", "matplotlib": "plot"}


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # ValueError: a module set to None in sys.modules
        return False


MISSING = {name for name in EXTRAS if not _installed(name)}
PACKAGE = Path(__file__).resolve().parent


def _missing_dependency(exc: ImportError) -> str | None:
    name = (getattr(exc, "name", None) or "").split(".")[0]
    return name if name in MISSING else None


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if not MISSING or collection_path.suffix != ".py" or collection_path.name == "__main__.py":
        return None  # (pytest does not import __main__.py for examples)
    path = collection_path.resolve()
    if PACKAGE not in path.parents:
        return None
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    try:
        importlib.import_module(module)
    except ImportError as exc:
        if _missing_dependency(exc):
            return True  # it needs the extra to import at all
        raise
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if getattr(item, "dtest", None) is not None:
            item.runtest = _skip_if_missing(item.runtest)  # type: ignore[method-assign]


def _skip_if_missing(runtest: Callable[[], None]) -> Callable[[], None]:
    """``runtest`` of an example, skipped when what it raises comes from a missing extra."""

    def run() -> None:
        try:
            runtest()
        except doctest.UnexpectedException as exc:
            error: BaseException | None = exc.exc_info[1]
            while error is not None:  # the ImportError, or what it was raised from
                name = _missing_dependency(error) if isinstance(error, ImportError) else None
                if name is not None:
                    pytest.skip(f"needs {name}: pip install 'modcore[{EXTRAS[name]}]'")
                error = error.__cause__ or error.__context__
            raise

    return run
