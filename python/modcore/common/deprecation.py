"""Renamed keywords kept working for one release, with a DeprecationWarning naming the new
spelling (as ``modcore.shuffled_weights`` and ``modcore.nn.linear_layers`` warn)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from .warn import warn_user

__all__ = ["renamed_keywords", "warn_renamed"]

F = TypeVar("F", bound=Callable[..., Any])


def warn_renamed(func_name: str, old: str, new: str) -> None:
    """Warn that ``func_name(old=...)`` is now spelled ``func_name(new=...)``."""
    warn_user(
        f"{func_name}({old}=...) is deprecated and will be removed in the next release; "
        f"use {func_name}({new}=...), the same value",
        DeprecationWarning,
    )


def renamed_keywords(**renames: str) -> Callable[[F], F]:
    """Let ``func`` still take its keywords' old names (``old="new"``), warning.

    An old keyword is passed on under its new name after a DeprecationWarning; both
    given at once is a TypeError, as Python's own for a keyword given twice. The
    signature and docstring are the function's (``inspect.signature`` follows
    ``__wrapped__``), so the docs show the new names only.
    """

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            for old, new in renames.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(
                            f"{func.__name__}() got {old}= and {new}=; {old} is the "
                            f"deprecated name of {new}: give {new} only"
                        )
                    warn_renamed(func.__name__, old, new)
                    kwargs[new] = kwargs.pop(old)
            return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
