"""Locked append-only result logs (common.result_log) and atomic whole-file writes
(common.files)."""

import contextlib
import os
import stat
import subprocess
import sys
import textwrap

import pytest

from modcore.common.files import atomic_write
from modcore.common.result_log import ResultLog

COLUMNS = ("name", "ncut")


def typed(row):
    if set(row) != set(COLUMNS):
        raise KeyError("other keys")
    return {"name": str(row["name"]), "ncut": float(row["ncut"])}


def log(path, **kw):
    return ResultLog(path, typed, columns=COLUMNS, what="test results", **kw)


def write_rows(path, rows):
    with log(path) as f:
        for row in rows:
            f.append(row)


def read_rows(path):
    with log(path) as f:
        return f.rows


class Crash(BaseException):
    """The process dying in the middle of a write."""


class HalfWriter:
    """A file whose next write stops after `keep` bytes, as a killed process would."""

    def __init__(self, f, keep):
        self.f, self.keep = f, keep

    def write(self, data):
        self.f.write(data[: self.keep(len(data))])
        self.f.flush()
        raise Crash

    def __getattr__(self, name):
        return getattr(self.f, name)


def crash_while_appending(path, row, keep):
    f = log(path).__enter__()
    f._file = HalfWriter(f._file, keep)
    with pytest.raises(Crash):
        f.append(row)
    f.close()


ROWS = [{"name": "a", "ncut": 1.5}, {"name": "b", "ncut": 0.25}]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_rows_round_trip_with_any_text(tmp_path, suffix):
    names = [
        "plain",
        "new\nline",
        "carriage\rreturn",
        "crlf\r\n",
        "line\u2028separator",
        "para\u2029graph",
        "form\x0cfeed",
        "vertical\x0btab",
        "next\x85line",
        'comma, "quote"',
        "",
        " padded ",
        "3.25",
        "ünïcödé ✓",
        "nul\x00byte",
    ]
    path = tmp_path / f"r{suffix}"
    rows = [{"name": n, "ncut": float(i) / 3} for i, n in enumerate(names)]
    write_rows(path, rows)
    assert read_rows(path) == rows
    write_rows(path, [{"name": "late", "ncut": float("inf")}])  # appends after reopening
    assert read_rows(path) == rows + [{"name": "late", "ncut": float("inf")}]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
@pytest.mark.parametrize(
    "keep",
    [lambda n: 1, lambda n: n // 2, lambda n: n - 1],
    ids=["1 byte", "half", "all but the newline"],
)
def test_a_row_cut_short_while_modcore_wrote_it_is_removed(tmp_path, suffix, keep):
    path = tmp_path / f"r{suffix}"
    write_rows(path, ROWS)
    before = path.read_bytes()
    crash_while_appending(path, {"name": "c\nd", "ncut": 2.0}, keep)
    assert path.read_bytes() != before  # part of the row is there
    assert read_rows(path) == ROWS
    assert path.read_bytes() == before and not (tmp_path / f"r{suffix}.writing").exists()


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_the_first_row_cut_short_leaves_an_empty_log(tmp_path, suffix):
    path = tmp_path / f"r{suffix}"
    crash_while_appending(path, ROWS[0], lambda n: n // 2)  # CSV: inside the header
    assert read_rows(path) == [] and path.read_bytes() == b""
    write_rows(path, ROWS)
    assert read_rows(path) == ROWS


def test_a_crash_after_the_row_was_written_keeps_it(tmp_path):
    path = tmp_path / "r.jsonl"
    write_rows(path, ROWS[:1])
    crash_while_appending(path, ROWS[1], lambda n: n)  # whole row out, journal still there
    assert (tmp_path / "r.jsonl.writing").exists()
    assert read_rows(path) == ROWS
    assert not (tmp_path / "r.jsonl.writing").exists()


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
@pytest.mark.parametrize(
    "extra, message",
    [
        ("a note from a user\n", "not a test results row"),
        ("a note without newline", "incomplete and modcore was not writing it"),
        ('{"name": "x", "ncut": 1.0, "more": 2}\n', "not a test results row"),
    ],
)
def test_lines_modcore_did_not_write_are_refused_and_kept(tmp_path, suffix, extra, message):
    path = tmp_path / f"r{suffix}"
    write_rows(path, ROWS)
    with open(path, "a") as f:
        f.write(extra)
    before = path.read_bytes()
    with pytest.raises(ValueError, match=message):
        read_rows(path)
    assert path.read_bytes() == before


def test_a_journal_that_does_not_match_the_end_removes_nothing(tmp_path):
    path = tmp_path / "r.jsonl"
    write_rows(path, ROWS)
    size = path.stat().st_size
    with open(path, "a") as f:
        f.write('{"name": "typed by hand"')  # not what the journal says was being written
    (tmp_path / "r.jsonl.writing").write_bytes(b'%d\n{"name": "c", "ncut": 1.0}\n' % size)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="incomplete"):
        read_rows(path)
    assert path.read_bytes() == before


def test_blank_lines_are_kept_and_skipped(tmp_path):
    for suffix in (".csv", ".jsonl"):
        path = tmp_path / f"r{suffix}"
        write_rows(path, ROWS[:1])
        with open(path, "a") as f:
            f.write("\n")
        write_rows(path, ROWS[1:])
        assert read_rows(path) == ROWS and b"\n\n" in path.read_bytes()


def test_foreign_files_are_refused(tmp_path):
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match=r"not a test results file \(its columns are \['a', 'b'\]"):
        read_rows(tmp_path / "other.csv")
    (tmp_path / "latin1.csv").write_bytes('"name","ncut"\n"caf\xe9",1.0\n'.encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8 text"):
        read_rows(tmp_path / "latin1.csv")
    with pytest.raises(ValueError, match=r"\.csv or \.jsonl"):
        log(tmp_path / "r.parquet")
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(ValueError, match=r"dir\.csv: cannot open the test results file"):
        read_rows(tmp_path / "dir.csv")
    with pytest.raises(ValueError, match="not a test results row"):
        write_rows(tmp_path / "r.jsonl", [{"name": "x"}])  # what is written must read back
    assert read_rows(tmp_path / "r.jsonl") == []


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_a_snapshot_neither_waits_nor_changes_the_file(tmp_path, suffix):
    path = tmp_path / f"r{suffix}"
    writer = log(path).__enter__()  # another process's run, holding the lock
    try:
        writer.append(ROWS[0])
        with open(path, "ab") as f:  # ... and half-way through its next row
            f.write(writer._format({"name": "new\nline", "ncut": 2.0})[:9])
        before = path.read_bytes()
        assert log(path).snapshot() == ROWS[:1]
        assert path.read_bytes() == before
    finally:
        writer.close()
    with pytest.raises(ValueError, match="incomplete and modcore was not writing it"):
        log(path).snapshot()  # nobody writing it now: a line of unknown origin
    assert log(tmp_path / "none.csv").snapshot() == []


def test_a_snapshot_leaves_out_a_row_cut_short_by_a_crash(tmp_path):
    path = tmp_path / "r.jsonl"
    write_rows(path, ROWS[:1])
    crash_while_appending(path, ROWS[1], lambda n: n // 2)
    before = path.read_bytes()
    assert log(path).snapshot() == ROWS[:1] and path.read_bytes() == before
    assert read_rows(path) == ROWS[:1]  # the next writer removes it


HOLDER = textwrap.dedent("""
    import sys
    from modcore.common.result_log import ResultLog
    log = ResultLog(sys.argv[1], dict).__enter__()
    print("locked", flush=True)
    sys.stdin.readline()  # the other process is waiting now
    if sys.argv[2] == "append":
        log.append({"name": "from the first process", "ncut": 1.0})
    log.close()  # with nothing appended, the file this process created goes
""")


@contextlib.contextmanager
def holder(path, then):
    """A first process that holds the log at ``path`` until the second one waits for it
    (the ``on_wait`` yielded, with the list of paths it was called with), then appends a
    row (``then="append"``) or nothing, and closes it."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path), then],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    waited = []

    def on_wait(p):
        waited.append(p)
        proc.stdin.write("go\n")  # only now may the first process go on and let go
        proc.stdin.flush()

    try:
        assert proc.stdout.readline() == "locked\n", proc.stderr.read()
        yield on_wait, waited
        assert proc.wait(60) == 0, proc.stderr.read()
    finally:
        proc.kill()


def test_a_second_process_waits_for_the_lock_then_sees_the_first_ones_rows(tmp_path):
    path = tmp_path / "r.jsonl"
    with holder(path, "append") as (on_wait, waited):
        with ResultLog(path, dict, on_wait=on_wait) as second:
            assert waited == [path]
            assert second.rows == [{"name": "from the first process", "ncut": 1.0}]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_a_run_that_fails_before_its_first_row_leaves_nothing_behind(tmp_path, suffix):
    path = tmp_path / "new" / "deeper" / f"r{suffix}"
    with pytest.raises(RuntimeError), log(path):
        raise RuntimeError("no data set")
    assert not (tmp_path / "new").exists()
    with log(path) as f:  # an empty log it created and closed normally goes too
        assert f.rows == []
    assert not (tmp_path / "new").exists()
    # Folders that hold something else stay, as does a log that was already there.
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "other.txt").write_text("x")
    with log(tmp_path / "kept" / "sub" / f"r{suffix}"):
        pass
    assert sorted(p.name for p in (tmp_path / "kept").iterdir()) == ["other.txt"]
    (tmp_path / f"old{suffix}").write_bytes(b"")
    with log(tmp_path / f"old{suffix}"):
        pass
    assert (tmp_path / f"old{suffix}").read_bytes() == b""
    write_rows(path, ROWS)
    assert read_rows(path) == ROWS


def test_a_process_waiting_on_a_log_removed_by_its_holder_writes_a_new_one(tmp_path):
    path = tmp_path / "r.jsonl"
    with holder(path, "nothing") as (on_wait, waited):
        with ResultLog(path, dict, on_wait=on_wait) as second:
            assert waited == [path] and second.rows == []
            second.append(ROWS[0])
    # the row went to the file in the folder, not to the removed one
    with ResultLog(path, dict) as third:
        assert third.rows == [ROWS[0]]


def test_atomic_write_replaces_whole_or_not_at_all(tmp_path):
    path = tmp_path / "table.md"
    path.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_write(path) as f:
            f.write("half of the new")
            raise RuntimeError("stopped")
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.md"]  # no temp file left
    with atomic_write(path) as f:
        f.write("new ✓\n")
        assert path.read_text() == "old\n"  # readers see the old file until the end
    assert path.read_text(encoding="utf-8") == "new ✓\n"
    with atomic_write(tmp_path / "fig.png", "wb") as f:
        f.write(b"\x89PNG")
    assert (tmp_path / "fig.png").read_bytes() == b"\x89PNG"
    # The permissions a plain open() would give, not a temp file's 0o600.
    (tmp_path / "plain").write_text("x")
    assert stat.S_IMODE(os.stat(path).st_mode) == stat.S_IMODE(os.stat(tmp_path / "plain").st_mode)
    with pytest.raises(ValueError, match="mode"):
        with atomic_write(path, "a"):
            pass


def test_atomic_write_through_a_symlink_replaces_its_target_and_keeps_the_link(tmp_path):
    target = tmp_path / "runs" / "x.md"
    target.parent.mkdir()
    target.write_text("old")
    link = tmp_path / "latest.md"
    link.symlink_to(target)
    with atomic_write(link) as f:
        f.write("new")
    assert link.is_symlink() and target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.md", "runs"]


def test_files_that_are_not_regular_are_neither_replaced_nor_read_as_logs(tmp_path):
    fifo = tmp_path / "table.md"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="exists and is not a regular file"), atomic_write(fifo):
        pass
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    # a log that is a device (through a link): refused before anything is read or written
    link = tmp_path / "z.jsonl"
    link.symlink_to(os.devnull)
    with pytest.raises(ValueError, match="not a regular file"), log(link):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.md", "z.jsonl"]


def test_a_folder_that_takes_no_new_file_is_named_not_the_temporary_file():
    # /proc takes no new file, even from root
    with pytest.raises(ValueError, match=r"^/proc/modcore-t\.md: cannot write there"):
        with atomic_write("/proc/modcore-t.md") as f:
            f.write("x")
