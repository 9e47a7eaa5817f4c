"""Whole files modcore writes (tables, summaries, figures, reports): replaced atomically,
JSON strict.

Whole files (tables, summaries, figures, reports) are written with
:func:`atomic_write`: to a temporary file in the same folder, then
``os.replace``, so a reader sees the old file or the new one, never half of one.

Every JSON modcore writes is strict (:func:`json_text`, :func:`write_json`): no bare
``NaN`` or ``Infinity``, which strict readers refuse.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
from pathlib import Path
from typing import Any

__all__ = ["atomic_write", "json_text", "write_json"]


def json_text(obj: Any, *, indent: int | None = 1) -> str:
    """``obj`` as strict JSON: the one JSON writer of modcore.

    A NaN or infinite float (JSON has neither) is written as null, and the dict
    holding it gets a ``"null_note"`` entry naming each such value and what it was
    (the note goes into the nearest enclosing dict; a list of numbers alone gets
    none). numpy scalars and arrays are written as Python numbers and lists.

    Examples
    --------
    >>> print(json_text({"z": float("nan"), "p": 0.5}, indent=None))
    {"z": null, "p": 0.5, "null_note": "JSON has no NaN or infinity: z (NaN) written as null"}
    """
    return json.dumps(_strict(obj, "", []), indent=indent, allow_nan=False)


def write_json(path, obj: Any) -> None:
    """Write ``obj`` to ``path`` atomically as strict JSON (:func:`json_text`)."""
    text = json_text(obj)
    with atomic_write(path) as f:
        f.write(text)


def _strict(value: Any, where: str, notes: list) -> Any:
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()  # numpy scalars and arrays
    if isinstance(value, float) and not math.isfinite(value):
        notes.append(f"{where or 'the value'} ({'NaN' if math.isnan(value) else value})")
        return None
    if isinstance(value, dict):
        here: list = []
        out = {k: _strict(v, str(k), here) for k, v in value.items()}
        if here:
            shown = ", ".join(here[:5]) + (f" and {len(here) - 5} more" if len(here) > 5 else "")
            out["null_note"] = f"JSON has no NaN or infinity: {shown} written as null"
        return out
    if isinstance(value, (list, tuple)):
        return [_strict(v, f"{where}[{i}]", notes) for i, v in enumerate(value)]
    return value


@contextlib.contextmanager
def atomic_write(path, mode: str = "w", **open_kwargs):
    """A file object that replaces ``path`` when the ``with`` block succeeds.

    Parameters
    ----------
    path : str or path-like
        The file to write; its folder must exist.
    mode : {"w", "wb"}, default="w"
        Text or binary.
    **open_kwargs
        Passed to :func:`open` (``encoding="utf-8"`` is the default for text).

    Yields
    ------
    file object
        A new temporary file in ``path``'s folder. On success it is flushed to
        disk and renamed onto ``path`` (``os.replace``, atomic on POSIX); on an
        exception it is removed and ``path`` is left as it was.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "table.md")
    >>> with atomic_write(path) as f:
    ...     _ = f.write("| a |\\n")
    >>> open(path).read()
    '| a |\\n'
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    # Through a symlink: the file it points to is replaced, and the link stays.
    path = Path(os.path.realpath(path))
    if path.exists() and not path.is_file():
        raise ValueError(f"{path}: exists and is not a regular file; modcore will not replace it")
    if mode == "w":
        open_kwargs.setdefault("encoding", "utf-8")
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        # 0o666 and the umask, like open(): mkstemp's 0o600 would change who can read results.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise ValueError(f"{path}: cannot write there ({exc.strerror or exc})") from exc
    try:
        with open(fd, mode, **open_kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        try:
            os.replace(tmp, path)
        except OSError as exc:  # named by the file asked for, not the temporary one
            raise ValueError(f"{path}: cannot write there ({exc.strerror or exc})") from exc
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
