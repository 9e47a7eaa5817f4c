"""Warnings that name the user's line: the first frame outside modcore (and outside
torch, whose autograd and module calls modcore's code runs under), however deep
modcore's own calls and decorators (``takes_view``, ``takes_settings``,
``renamed_keywords``) are. A fixed ``stacklevel`` names the wrapper as soon as one
more call sits between; Python 3.12's ``skip_file_prefixes`` does this, and modcore
supports 3.9."""

from __future__ import annotations

import os
import sys
import warnings
from types import FrameType

__all__ = ["warn_user"]

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _skipped() -> tuple:
    prefixes = [_PACKAGE]
    torch_file = getattr(sys.modules.get("torch"), "__file__", None)
    if torch_file:
        prefixes.append(os.path.dirname(os.path.abspath(torch_file)) + os.sep)
    return tuple(prefixes)


def warn_user(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn(message, category)`` attributed to the first calling frame that is
    not modcore's (or torch's)."""
    skipped = _skipped()
    frame: FrameType | None = sys._getframe(1)  # warn_user's caller: stacklevel 2 of the warn below
    level = 2
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(skipped):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)
