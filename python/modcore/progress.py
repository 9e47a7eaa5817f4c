"""Progress reporting for long batches: tqdm when installed, else a plain line."""

from __future__ import annotations

import sys


class Progress:
    """Counts finished work items and shows them.

    ``show`` is None (on when stderr is a terminal), a bool, or a callable
    ``f(done, total)`` called after each chunk.
    """

    def __init__(self, total: int, desc: str, show=None):
        self.total, self.done, self.desc = total, 0, desc
        self.callback = show if callable(show) else None
        enabled = sys.stderr.isatty() if show is None else bool(show)
        self.bar = None
        self.plain = False
        if enabled and self.callback is None:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                self.plain = True
            else:
                self.bar = tqdm(total=total, desc=desc, unit="shuffle")

    def update(self, n: int) -> None:
        self.done += n
        if self.callback is not None:
            self.callback(self.done, self.total)
        elif self.bar is not None:
            self.bar.update(n)
        elif self.plain:
            print(f"\r{self.desc}: {self.done}/{self.total}", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.plain:
            print(file=sys.stderr)
