"""Append-only result logs: one row per finished piece of work, safe to share and to kill.

A result log (a sweep's ``.csv`` / ``.jsonl`` file, reproduce's ``runs.jsonl``)
gets one row per finished piece of work, so that a stopped run resumes where it
was. The rules, after SQLite's and git's habits:

- **One writer at a time.** A process holds an exclusive advisory lock
  (``fcntl.flock``) on a log from opening it to closing it. A second process
  that opens the same log waits until the first closes it, then reads what the
  first wrote: two runs on one file never compute and append the same rows
  twice. (flock is advisory, for modcore processes; it may not hold across
  machines on a network file system.) Only reading (:meth:`ResultLog.snapshot`)
  takes no lock, never waits and changes nothing.
- **Only modcore's own cut-short row is ever removed.** Before a row is appended
  its offset and bytes go to a journal, ``<log>.writing``, removed once the row is
  on disk. On the next open, a file that ends in a proper prefix of the
  journal's row at that offset (a crash mid-write) loses that prefix; nothing
  else is ever removed or rewritten.
- **Anything else that is not a row is an error** naming the line (a note typed
  into the file, a damaged or cut-short line modcore was not writing). Blank
  lines are kept and skipped.
- **A failed run leaves nothing.** A log that a run created and closed without a
  row (no data, bad input, Ctrl-C before the first result) is removed, with the
  folders made for it. It is removed under the lock, and a process that was
  waiting for that lock notices the file is gone and opens it anew.
- **A real parser.** CSV goes through the :mod:`csv` module with every string
  quoted, JSON Lines through :mod:`json` (non-ASCII escaped), so names holding
  commas, quotes, newlines, carriage returns, U+2028 or form feeds round-trip.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import json
import math
import os
from pathlib import Path
from typing import Any, BinaryIO

from .files import atomic_write, json_text
from .rows import RowSchema

__all__ = ["ResultLog"]

LOG_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


class ResultLog:
    """An append-only log of result rows, locked while open (see the module's rules).

    Use it as a context manager: entering takes the lock (waiting for another
    process that holds it), repairs a row modcore was writing when it stopped,
    and reads the rows; :meth:`append` adds one; leaving releases the lock.

    Parameters
    ----------
    path : str or path-like
        ``.csv``, ``.jsonl`` or ``.ndjson``; created (with its folder) on entering
        if it does not exist, and removed again (with the folders made for it) if
        it is still empty when closed.
    check_row : RowSchema or callable
        The log's :class:`modcore.common.rows.RowSchema`: every row read or appended is
        checked by it (types, ranges, and no run twice: two rows with the same
        key are refused, naming both lines). A plain callable ``check_row(dict) ->
        dict`` (the row with its proper types, or a ValueError, TypeError or
        KeyError) checks rows one by one, without the run key.
    columns : sequence of str, optional
        The columns in file order: the CSV header (required for ``.csv``), the
        key order of JSON rows.
    what : str, default="modcore results"
        What the file is, for error messages.
    on_wait : callable, optional
        Called with the path when another process holds the lock, before waiting.

    Attributes
    ----------
    rows : list of dict
        The rows read on entering, checked by ``check_row``.

    Raises
    ------
    ValueError
        On entering: an unknown suffix, a path that cannot be opened for
        appending (a directory, no permission), a file that is not UTF-8 text,
        a CSV header other than ``columns``, or a line that is not a row (the
        message names the line; the file is left as it was).

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "runs.jsonl")
    >>> with ResultLog(path, dict) as log:
    ...     log.append({"name": "a\\nb", "ncut": 1.5})
    >>> with ResultLog(path, dict) as log:
    ...     log.rows
    [{'name': 'a\\nb', 'ncut': 1.5}]
    """

    def __init__(
        self, path, check_row, *, columns=None, what: str = "modcore results", on_wait=None
    ):
        self.path = Path(path)
        self.kind = LOG_SUFFIXES.get(self.path.suffix.lower())
        if self.kind is None:
            if self.path.is_dir():
                raise ValueError(
                    f"{str(path)!r} is a folder; expected a {what} file: a file name ending "
                    f"in .csv or .jsonl (such as {str(self.path / 'results.jsonl')!r})"
                )
            raise ValueError(f"a {what} file must end in .csv or .jsonl, got {str(path)!r}")
        if self.kind == "csv" and columns is None:
            raise ValueError("a CSV result log needs its columns")
        self.check_row, self.columns, self.what, self.on_wait = check_row, columns, what, on_wait
        self.journal = self.path.with_name(self.path.name + ".writing")
        self.rows: list[dict] = []
        self._runs: dict = {}  # run key -> line number, with a RowSchema
        self._n_lines = 0  # lines in the file, as read and appended
        self._file: BinaryIO | None = None
        self._created = False
        self._new_folders: list[Path] = []

    # --- open / close ---------------------------------------------------------------

    def __enter__(self) -> ResultLog:
        if self.path.exists() and not (self.path.is_file() or self.path.is_dir()):
            # a device or FIFO: reading /dev/zero would never end (a folder fails below)
            raise ValueError(f"{self.path}: not a regular file, so not a {self.what} file")
        while True:
            self._new_folders = [p for p in self.path.parents if not p.exists()]
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = file = self._open()
            except OSError as exc:  # a directory, a read-only place, a file as a folder ...
                self._remove_new_folders()
                raise ValueError(
                    f"{self.path}: cannot open the {self.what} file ({exc.strerror or exc})"
                ) from exc
            try:
                self._lock(file)
            except BaseException:
                self.close()
                raise
            if self._still_at_path(file):
                break
            # The process that held the lock removed the file it had created and left
            # empty: this one waited on a file no longer in the folder; open it anew.
            self._file = None
            file.close()
        try:
            file.seek(0)
            data = self._repair(file, file.read())
            self.rows = self._parse(data)
            self._n_lines = data.count(b"\n")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Release the lock and close the file (also done on leaving the ``with``).

        A log this object created that is still empty (a run that failed or was stopped
        before its first row) is removed, with the folders made for it, so that a failed
        run leaves nothing behind.
        """
        if self._file is None:
            return
        if self._created and os.fstat(self._file.fileno()).st_size == 0:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()  # under the lock: a waiting process sees it gone
            self._remove_new_folders()
        self._file.close()  # closing releases the flock
        self._file = None

    def _open(self) -> BinaryIO:
        """The log opened for appending (O_APPEND: every write lands at the end),
        created if absent; ``self._created`` says whether this call created it."""
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT
        try:
            fd = os.open(self.path, flags | os.O_EXCL, 0o666)
            self._created = True
        except FileExistsError:
            fd = os.open(self.path, flags)
            self._created = False
        return open(fd, "a+b")

    def _still_at_path(self, file: BinaryIO) -> bool:
        try:
            here = os.stat(self.path)
        except FileNotFoundError:
            return False
        mine = os.fstat(file.fileno())
        return (here.st_dev, here.st_ino) == (mine.st_dev, mine.st_ino)

    def _remove_new_folders(self) -> None:
        for folder in self._new_folders:  # deepest first; a folder in use stays
            try:
                folder.rmdir()
            except OSError:
                break

    def _lock(self, file: BinaryIO) -> None:
        fd = file.fileno()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if self.on_wait is not None:
                self.on_wait(self.path)
            fcntl.flock(fd, fcntl.LOCK_EX)

    def _repair(self, file: BinaryIO, data: bytes) -> bytes:
        """Remove the proper prefix of the journal's row that a crash left at the end."""
        if not self.journal.exists():
            return data
        kept = self._journal_cut(data)
        if len(kept) < len(data):
            file.truncate(len(kept))
            os.fsync(file.fileno())
        self.journal.unlink()
        return kept

    def _journal_cut(self, data: bytes) -> bytes:
        """``data`` without the row the journal says was being written, if the file
        ends in a proper prefix of that row at that offset; else ``data`` as it is."""
        try:
            offset, sep, row = self.journal.read_bytes().partition(b"\n")
        except FileNotFoundError:  # the writer just finished
            return data
        # The journal is written whole (atomic_write) before the row: a damaged one
        # means the row was never started.
        if sep and offset.isdigit() and int(offset) <= len(data):
            tail = data[int(offset) :]
            if tail and tail != row and row.startswith(tail):
                return data[: int(offset)]
        return data

    # --- reading --------------------------------------------------------------------

    def snapshot(self) -> list:
        """The rows in the file now, without the lock: neither waits for a process
        writing the log nor changes the file. A row being written at this moment (or
        cut short by a crash, with its journal) is left out; other damage is an error.

        Returns
        -------
        list of dict
            Rows checked by ``check_row``; none if the file does not exist.
        """
        if not self.path.exists():
            return []
        with open(self.path, "rb") as f:
            data = f.read()
            try:  # a process holding the log may be in the middle of a row
                fcntl.flock(f.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
                writing = False
            except BlockingIOError:
                writing = True
        cut = self._journal_cut(data)
        return self._parse(cut, in_progress=writing and cut == data)

    def _parse(self, data: bytes, in_progress: bool = False) -> list:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            if not in_progress or exc.end < len(data):  # else: a character cut in two
                raise ValueError(
                    f"{self.path}: not UTF-8 text (byte {exc.start}), so not a {self.what} file"
                ) from exc
            text = data[: exc.start].decode("utf-8")
        partial = bool(text) and not text.endswith("\n")
        if partial and not in_progress:
            last = text.rsplit("\n", 1)[-1]
            raise ValueError(
                f"{self.path}: the last line {last[:60]!r} is incomplete and modcore was not "
                "writing it (modcore removes only a row it was writing when it stopped); "
                "complete or delete that line, or use another file"
            )
        if self.kind == "jsonl":  # split's last piece: "" or the row in progress
            return [
                self._row(self._json(line), number, line)
                for number, line in enumerate(text.split("\n")[:-1], 1)
                if line.strip()
            ]
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            records = [(values, reader.line_num) for values in reader]
        except csv.Error as exc:
            raise ValueError(f"{self.path}, line {reader.line_num}: not CSV ({exc})") from exc
        if partial:  # the row in progress is the last record
            records = records[:-1]
        header, rows = None, []
        for values, number in records:
            if not values:
                continue  # a blank line
            if header is None:
                header = values
                if tuple(header) != tuple(self.columns):
                    raise ValueError(
                        f"{self.path}: not a {self.what} file (its columns are {header}, "
                        f"expected {list(self.columns)})"
                    )
                continue
            raw = dict(zip(self.columns, values)) if len(values) == len(header) else None
            rows.append(self._row(raw, number, ",".join(values)))
        return rows

    @staticmethod
    def _json(line: str):
        try:
            return json.loads(line)
        except ValueError:
            return None

    def _row(self, raw, number: int, line: str) -> dict:
        try:
            if not isinstance(raw, dict):
                raise TypeError("not a mapping of columns")
            row = self._checked(raw, text=self.kind == "csv")
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(
                f"{self.path}, line {number}: not a {self.what} row ({exc}; the line begins "
                f"{line[:60]!r}); modcore never removes lines it did not write: correct, "
                "move or delete it, or use another file"
            ) from exc
        run, earlier = self._run_of(row)
        if earlier is not None:
            raise ValueError(
                f"{self.path}, lines {earlier} and {number}: the same run twice "
                f"({self._describe(run)}); a joined or edited log? keep one of them"
            )
        if run is not None:
            self._runs[run] = number
        return row

    def _checked(self, raw: dict, *, text: bool) -> dict:
        if isinstance(self.check_row, RowSchema):
            return self.check_row.check(raw, text=text)
        return self.check_row(raw)

    def _run_of(self, row: dict) -> tuple:
        """(the row's run key, the line already holding that run or None); (None, None)
        for a log checked by a plain callable, which has no run key."""
        if not isinstance(self.check_row, RowSchema):
            return None, None
        run = self.check_row.run_of(row)
        return run, self._runs.get(run)

    def _describe(self, run: tuple) -> str:
        assert isinstance(self.check_row, RowSchema)
        return ", ".join(f"{k}={v!r}" for k, v in zip(self.check_row.key, run))

    # --- writing --------------------------------------------------------------------

    def append(self, row: dict) -> None:
        """Append one row and wait until it is on disk.

        Raises
        ------
        ValueError
            If the log is not open (outside its ``with`` block), or ``row`` is not a
            row (``check_row`` refuses it).
        """
        if self._file is None:
            raise ValueError(f"{self.path}: the result log is not open")
        try:
            row = self._checked(dict(row), text=False)  # what is written must read back
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(
                f"{self.path}: not a {self.what} row ({exc!r}): {str(row)[:200]}"
            ) from exc
        run, earlier = self._run_of(row)
        if earlier is not None:
            raise ValueError(
                f"{self.path}: already holds this run, line {earlier} ({self._describe(run)})"
            )
        data = self._format(row)
        offset = os.fstat(self._file.fileno()).st_size
        header = offset == 0 and self.kind == "csv"
        if header:
            data = self._csv_line(self.columns) + data
        if run is not None:
            self._runs[run] = self._n_lines + 1 + header
        self._n_lines += data.count(b"\n")
        with atomic_write(self.journal, "wb") as journal:
            journal.write(b"%d\n" % offset + data)
        self._file.write(data)
        self._file.flush()
        os.fsync(self._file.fileno())
        self.journal.unlink()

    def _format(self, row: dict) -> bytes:
        keys = self.columns if self.columns is not None else list(row)
        if self.kind == "jsonl":
            # A float column that may be non-finite holds "nan", "inf" or "-inf", as in
            # the CSV log and the results' to_dict (Column reads them back).
            values = {k: _nonfinite_text(row[k]) for k in keys}
            return (json_text(values, indent=None) + "\n").encode("utf-8")
        return self._csv_line([row[k] for k in keys])

    @staticmethod
    def _csv_line(values) -> bytes:
        buf = io.StringIO(newline="")
        # Strings always quoted: a quoted field may hold "\r", which the default
        # QUOTE_MINIMAL leaves bare with a "\n" line terminator.
        csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC).writerow(values)
        return buf.getvalue().encode("utf-8")


def _nonfinite_text(value: Any) -> Any:
    """Non-finite floats as "nan", "inf" or "-inf", in nested dicts and lists too (a
    lesion row's network tests): a log row never takes json_text's null and note."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _nonfinite_text(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nonfinite_text(v) for v in value]
    return value
