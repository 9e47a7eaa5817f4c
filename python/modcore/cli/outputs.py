"""What each command writes, so that no output replaces another or an input.

Each output option names a file, or a folder whose files the command writes: every
path is compared with every other, and with the inputs, before any work starts.
"""

from __future__ import annotations

import os
from fnmatch import fnmatchcase
from pathlib import Path

__all__ = ["FOLDER_FILES", "check_outputs"]

# The files a folder option's command writes inside it ("*" also matches "/": every
# file at any depth). tests/test_outputs.py checks these against real report folders.
FOLDER_FILES = {
    ("analyze", "report"): ("summary.json", "index.html", "*.png"),
    ("functional", "report"): ("summary.json", "index.html", "*.png"),
    ("lesion", "report"): ("lesion.md", "lesion_*.png"),
    ("demo", "out"): ("*",),  # the trained net.pt and the report
    ("reproduce", "out"): ("*",),  # runs.jsonl, checkpoints/, tables, lesions/, ...
}

# Options naming what a command writes (files, or the folders above).
OUTPUT_OPTIONS = ("out", "json", "csv", "report")


def check_outputs(command: str, outputs: list, inputs: list) -> None:
    """Raise ValueError when two outputs are one path, when a file output is a file a
    folder output's command writes, or when an output would replace an input.

    ``outputs`` holds ``(option, dest, path)``; ``inputs`` paths.
    """
    resolved = [(flag, dest, path, _real(path)) for flag, dest, path in outputs]
    for i, (flag, dest, path, real) in enumerate(resolved):
        for other, other_dest, _, other_real in resolved[:i]:
            if real == other_real:
                what = "folder" if _is_folder(command, other_dest) else "file"
                if (command, other_dest) == ("sweep", "out"):
                    what = "results file"
                raise ValueError(
                    f"{flag} {path} is the {other} {what}: one would replace the other"
                )
        for other, other_dest, other_path, other_real in resolved:
            if other_real == real or not _is_folder(command, other_dest):
                continue
            inside = _written_in(command, other_dest, other_real, real)
            if inside is not None:
                raise ValueError(
                    f"{flag} {path} is a file {other} {other_path} writes ({inside}): one "
                    "would replace the other; choose another name or folder"
                )
        for source in inputs:
            source_real = _real(source)
            if source_real == real:
                raise ValueError(f"{flag} {path} is the input {source}: it would be replaced")
            if _is_folder(command, dest) and _written_in(command, dest, real, source_real):
                raise ValueError(f"{flag} {path} would replace the input {source} in it")


def _is_folder(command: str, dest: str) -> bool:
    return (command, dest) in FOLDER_FILES


def _written_in(command: str, dest: str, folder: Path, path: Path) -> str | None:
    """``path`` relative to ``folder`` when the command writes a file of that name there
    (or the folder holds the path and is written whole), else None."""
    try:
        rel = path.relative_to(folder).as_posix()
    except ValueError:
        return None
    patterns = FOLDER_FILES[(command, dest)]
    return rel if any(fnmatchcase(rel, p) for p in patterns) else None


def _real(path) -> Path:
    # realpath: "r4/../r4/x", a symlinked folder and "./x" name the same file.
    return Path(os.path.realpath(path))
