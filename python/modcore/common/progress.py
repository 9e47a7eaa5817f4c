"""Progress reporting for long work: tqdm when installed, else plain text on stderr.

Every public function that takes ``progress`` follows one convention: None
shows progress when stderr is a terminal, True or False force it on or off, and
a callable is called as ``f(done, total)`` after each step instead.
"""

from __future__ import annotations

import sys

# True from just before a display may leave stderr mid-line until it has ended that
# line, so that a message after an interruption (which may land anywhere, even
# while a bar is being built or a count written) starts on a fresh line.
_mid_line = False

_BAR_FORMAT = (
    "{l_bar}{bar}| {n_fmt}/{total_fmt} {unit} [{elapsed}<{remaining}, {rate_fmt}{postfix}]"
)


class Progress:
    """Counts finished work items and shows them.

    Parameters
    ----------
    total : int
        Items expected; :meth:`add` raises it when more work turns up.
    desc : str
        What is being done, e.g. ``"layer shuffles"``.
    show : None, bool or callable, default None
        None: on when stderr is a terminal; a bool forces it; a callable
        ``f(done, total)`` is called after each :meth:`update` and nothing is
        printed.
    unit : str, default "shuffles"
        Plural name of the items, printed after the count ("6/6 lesions").

    Notes
    -----
    Without tqdm, counts rewrite one line on stderr, while an update that
    carries ``info`` (a training epoch's loss and accuracy) is printed as a
    line of its own, so a log keeps each epoch's numbers.

    Examples
    --------
    >>> seen = []
    >>> def show(done, total):
    ...     seen.append((done, total))
    >>> with Progress(3, "demo", show, unit="steps") as bar:
    ...     bar.update(2)
    ...     bar.add(1, "extra")
    ...     bar.update(2)
    >>> seen
    [(2, 3), (4, 4)]
    """

    def __init__(self, total: int, desc: str, show=None, *, unit: str = "shuffles"):
        self.total, self.done, self.desc, self.unit = total, 0, desc, unit
        self.stage = ""
        self.callback = show if callable(show) else None
        enabled = sys.stderr.isatty() if show is None else bool(show)
        self.bar = None
        self.plain = False
        self._line_open = False  # a plain line written with \r and not yet ended
        self._shown = enabled and self.callback is None
        if self._shown:
            global _mid_line
            _mid_line = True
            try:
                from tqdm.auto import tqdm
            except ImportError:
                self.plain = True
            else:
                self.bar = tqdm(total=total, desc=desc, unit=unit, bar_format=_BAR_FORMAT)

    def add(self, n: int, stage: str | None = None) -> None:
        """Expect ``n`` more items; ``stage`` (optional) names the work now under way."""
        self.total += n
        if stage is not None:
            self.stage = stage
        if self.bar is not None:
            self.bar.total = self.total
            if stage is not None:
                self.bar.set_description(f"{self.desc}: {stage}", refresh=False)
            self.bar.refresh()

    def update(self, n: int = 1, info: dict | None = None) -> None:
        """Count ``n`` finished items; ``info`` maps labels to values to show beside them."""
        self.done += n
        if self.callback is not None:
            self.callback(self.done, self.total)
        elif self.bar is not None:
            if info:
                self.bar.set_postfix(info, refresh=False)
            self.bar.update(n)
        elif self.plain:
            head = f"{self.desc}: {self.stage}: " if self.stage else f"{self.desc}: "
            text = f"{head}{self.done}/{self.total} {self.unit}"
            if info:  # a line of its own, over any count line left open
                details = "  ".join(f"{key} {value}" for key, value in info.items())
                start = "\r" if self._line_open else ""
                print(f"{start}{text}  {details}", file=sys.stderr, flush=True)
                self._line_open = False
            else:
                self._line_open = True  # first: an interrupt may land during the print
                print(f"\r{text}", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        """End the display (a no-op for callbacks and when nothing was shown)."""
        if self.bar is not None:
            self.bar.close()
        elif self._line_open:
            print(file=sys.stderr, flush=True)
            self._line_open = False
        if self._shown:
            global _mid_line
            _mid_line = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def end_open_line() -> None:
    """Start a fresh stderr line if a progress display may have been left mid-line."""
    global _mid_line
    if _mid_line:
        print(file=sys.stderr, flush=True)
        _mid_line = False
