"""What the experiment scripts run with ``python -m`` share: a run log they print and append
to, and a main that ends in one line on stderr, never a traceback, on a bad input or Ctrl-C."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

__all__ = ["appending_log", "run_script"]


def appending_log(path: Path) -> Callable[[str], None]:
    """A ``log(text)`` that prints ``text`` and appends it as a line to ``path``."""

    def log(text: str) -> None:
        print(text, flush=True)
        with Path(path).open("a") as f:
            f.write(text + "\n")

    return log


def run_script(prog: str, body: Callable[[], object], *, interrupted: str) -> int:
    """Run ``body()`` and return the exit status: 0; 2 after one line on stderr when it
    raises ValueError or OSError (a bad option, a missing or unreadable file); 130 after
    one line on Ctrl-C that says what was kept (``interrupted``)."""
    try:
        body()
    except (ValueError, OSError) as exc:
        print(f"{prog}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted: {interrupted}", file=sys.stderr)
        return 130
    return 0
