"""Fuzz targets: each takes the fuzzer's bytes and hands them to one reader or core entry
point of modcore.

The contract every target checks: a result, or a ValueError / TypeError (the clear error a
user gets for bad input). Any other exception escapes the target, and the fuzzer reports
it as a finding, with the input that caused it. ``tests/fuzz/run.py`` runs the targets
under atheris; ``tests/test_fuzz_corpus.py`` replays their committed corpora under pytest.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

import modcore
from modcore import _core
from modcore.common.result_log import ResultLog

# The errors a reader may raise for bad input; anything else is a finding.
CLEAR = (ValueError, TypeError)

TARGETS: dict[str, Callable[[bytes], None]] = {}
# The modules a target reaches beyond ``import modcore``. run.py imports them once, under
# atheris's instrumentation, before fuzzing: imported at the first input instead, they
# would give the fuzzer no coverage to follow, and their start-up (torch: seconds under
# load) would be paid inside an execution.
MODULES: dict[str, tuple[str, ...]] = {}


def target(name: str, *modules: str):
    def register(fn):
        TARGETS[name] = fn
        MODULES[name] = modules
        return fn

    return register


# Scratch folders in memory where the machine has a tmpfs: on disk, creating and removing
# a folder per execution (10-30 ms under load) cost more than most readers' work.
_SCRATCH = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None


@contextlib.contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    """A fresh empty folder (in memory where possible), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=prefix, dir=_SCRATCH) as tmp:
        yield Path(tmp)


@contextlib.contextmanager
def written(data: bytes, suffix: str) -> Iterator[Path]:
    """``data`` as a file with ``suffix`` in a fresh folder, removed afterwards."""
    with scratch("modcore-fuzz-") as tmp:
        path = tmp / f"input{suffix}"
        path.write_bytes(data)
        yield path


def cluster_file(data: bytes, suffix: str) -> None:
    """Read a weight file as a network and, if it is one, cluster it into two modules."""
    with written(data, suffix) as path, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FloatingUnitsWarning and the like: not findings
        try:
            network = modcore.Network.from_weights(path)
            modcore.spectral_cluster(network, n_clusters=2, seed=0, n_jobs=1)
        except CLEAR:
            pass


@target("npz")
def npz(data: bytes) -> None:
    cluster_file(data, ".npz")


@target("pt", "torch")
def pt(data: bytes) -> None:
    cluster_file(data, ".pt")


@target("safetensors", "safetensors.numpy")
def safetensors(data: bytes) -> None:
    cluster_file(data, ".safetensors")


@target("checkpoint", "modcore.nn.checkpoint")
def checkpoint(data: bytes) -> None:
    from modcore.nn import checkpoint

    with written(data, ".pt") as path:
        try:
            checkpoint.load(path)
        except CLEAR:
            pass


@target("idx", "modcore.nn.datasets")
def idx(data: bytes) -> None:
    from modcore.nn.datasets import read_idx

    with written(data, ".idx") as path:
        try:
            read_idx(path)
        except CLEAR:
            pass


# What the log readers below import on first use.
_LOG_READERS = (
    "pandas",
    "modcore.experiments.conditions",
    "modcore.experiments.lesions",
    "modcore.experiments.reproduce",
    "modcore.experiments.runlog",
    "modcore.experiments.sweep",
    "modcore.experiments.tables",
)


# The result logs modcore reads back, read as the commands that resume from them read
# them, down to the tables and the summary's numbers. Their contract is stricter: a row
# that is not what modcore wrote is a ValueError naming the file (and its line), never
# another error, nor one that leaves the user to guess which file is wrong.
def _sweep_log(path: Path) -> None:
    import pandas as pd

    from modcore.experiments.sweep import _SCHEMA, FILE_COLUMNS, _adjusted_p_values

    table = pd.DataFrame(
        ResultLog(path, _SCHEMA, columns=FILE_COLUMNS).snapshot(), columns=list(FILE_COLUMNS)
    )
    _adjusted_p_values(table)


def _one_settings(path: Path, runs: list, settings) -> list:
    """The runs up to 5 seeds, as a command reads them: its run log refuses runs made
    with settings other than its own (so, here, other than the first run's)."""
    made = [{k: r.get(k) for k in settings} for r in runs]
    if any(m != made[0] for m in made):
        raise ValueError(f"{path} holds runs made with other settings")
    return [r for r in runs if r["seed"] < 5]


def _reproduce_log(path: Path) -> None:
    from modcore.experiments.conditions import SETTINGS
    from modcore.experiments.reproduce import _seconds
    from modcore.experiments.runlog import read_runs
    from modcore.experiments.tables import aggregate, to_markdown

    wanted = _one_settings(path, read_runs(path), SETTINGS)
    to_markdown(aggregate(wanted), seeds=5)
    _seconds(wanted)


def _lesion_log(path: Path) -> None:
    from modcore.experiments.lesions import _SETTINGS, aggregate_lesions, read_lesion_runs

    wanted = _one_settings(path, read_lesion_runs(path), _SETTINGS)
    aggregate_lesions(wanted)
    sum(r["seconds_train"] + r["seconds_lesion"] for r in wanted)


def _read_log(read: Callable[[Path], None], data: bytes, suffix: str) -> None:
    with written(data, suffix) as path, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            read(path)
        except ValueError as exc:
            if str(path) not in str(exc):
                raise AssertionError(f"the error does not name the file: {exc}") from exc


@target("jsonl", *_LOG_READERS)
def jsonl(data: bytes) -> None:
    for read in (_sweep_log, _reproduce_log, _lesion_log):
        _read_log(read, data, ".jsonl")


@target("csv", *_LOG_READERS)
def csv_log(data: bytes) -> None:
    _read_log(_sweep_log, data, ".csv")


# The core's entry points, called as the package calls them but with what the fuzzer
# draws: group sizes, blocks of any dtype, shape, stride and values, labels, settings.
_DTYPES = [np.float64, np.float32, np.float16, np.int64, np.int32, np.bool_, np.complex64]
_SPECIAL = [0.0, -0.0, 1.0, -1.0, np.nan, np.inf, -np.inf, 5e-324, 1e-310, 1e308, -1e308]


class Draw:
    """Values taken from the fuzzer's bytes, in the order asked for (zeros once used up)."""

    def __init__(self, data: bytes):
        self.data = data
        self.at = 0

    def byte(self) -> int:
        if self.at >= len(self.data):
            return 0
        self.at += 1
        return self.data[self.at - 1]

    def int(self, lo: int, hi: int) -> int:
        """An int in [lo, hi], with the ends more likely."""
        b = self.byte()
        if b < 16:
            return lo
        if b < 32:
            return hi
        return lo + (b * 257 + self.byte()) % (hi - lo + 1)

    def pick(self, options):
        return options[self.byte() % len(options)]

    def floats(self, n: int) -> np.ndarray:
        out = np.empty(n)
        for i in range(n):
            b = self.byte()
            out[i] = _SPECIAL[b % len(_SPECIAL)] if b >= 200 else (b - 100) / 7.0
        return out


def _block(draw: Draw, sizes: list[int]) -> tuple:
    n_groups = len(sizes)
    src, dst = draw.int(-1, n_groups), draw.int(-1, n_groups)
    rows = sizes[src] if 0 <= src < n_groups and draw.byte() > 20 else draw.int(-2, 9)
    cols = sizes[dst] if 0 <= dst < n_groups and draw.byte() > 20 else draw.int(-2, 9)
    triangle = src == dst if draw.byte() > 20 else bool(draw.byte() % 2)
    n_entries = max(rows, 0) * max(cols, 0)
    if draw.byte() % 2:
        values = draw.floats(min(n_entries, 400))
        dense = np.resize(values, n_entries).astype(draw.pick(_DTYPES), copy=False)
        shape = (max(rows, 0), max(cols, 0)) if draw.byte() > 30 else (n_entries,)
        dense = dense.reshape(shape)
        if draw.byte() < 30 and dense.ndim == 2 and dense.shape[1] > 1:
            dense = dense[:, ::2]  # not C-contiguous
        return (src, dst, rows, cols, triangle, dense, None, None)
    n = draw.int(0, 30)
    positions = np.array([draw.int(-3, max(n_entries, 1) + 3) for _ in range(n)], dtype=np.int64)
    if draw.byte() > 60:
        positions = np.unique(positions)
    values = draw.floats(len(positions) if draw.byte() > 20 else draw.int(0, 5))
    return (src, dst, rows, cols, triangle, None, positions, values)


@target("core")
def core(data: bytes) -> None:
    # Casting the drawn values to small or integer dtypes overflows on purpose.
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _core_call(Draw(data))


def _core_call(draw: Draw) -> None:
    sizes = [draw.int(-1, 12) for _ in range(draw.int(0, 5))]
    blocks = [_block(draw, sizes) for _ in range(draw.int(0, 4))]
    sizes_arr = np.array(sizes, dtype=np.int64)
    k = draw.int(-1, 14)
    drop = draw.pick(["isolated", "unreachable", "bogus"])
    normalize = draw.pick(["none", "rescale", "bogus"])
    method = draw.pick(["auto", "bipartite", "full", "dense", "bogus"])
    rule = draw.pick(["cluster_qr", "kmeans", "bogus"])
    select = draw.pick(["inertia", "ncut", "bogus"])
    shuffle = draw.pick(list(modcore.SHUFFLES) + ["bogus"])
    n_units = sum(max(s, 0) for s in sizes)
    labels = np.array([draw.int(-2, 4) for _ in range(n_units)], dtype=np.int32)
    tol = draw.pick([1e-5, 0.0, -1.0, np.nan, 0.5])
    call = draw.int(0, 8)
    try:
        if call == 0:
            _core.graph(sizes_arr, blocks, drop, normalize)
        elif call == 1:
            _core.cluster(
                sizes_arr, blocks, k, draw.int(0, 3), draw.int(0, 50), tol, method, select,
                bool(draw.byte() % 2), rule, draw.int(0, 2**31), 1, drop, normalize,
            )  # fmt: skip
        elif call == 2:
            _core.ncut(sizes_arr, blocks, labels, drop, normalize)
        elif call == 3:
            _core.modularity(sizes_arr, blocks, labels, drop, normalize)
        elif call == 4:
            _core.spectral_embedding(
                sizes_arr, blocks, k, tol, method, drop, normalize, 1,
                draw.pick([0, 2**62]),
            )  # fmt: skip
        elif call == 5:
            _core.shuffled_scores(
                sizes_arr, blocks, shuffle, draw.int(0, 3), draw.int(0, 3),
                [draw.int(-1, 6) for _ in range(draw.int(0, 3))], draw.int(0, 3),
                draw.int(0, 50), tol, method, select, bool(draw.byte() % 2), rule, 0, 1,
                drop, normalize, draw.pick([0, 2**62]),
            )  # fmt: skip
        elif call == 6:
            _core.cluster_curve(
                sizes_arr, blocks, [draw.int(-1, 6) for _ in range(draw.int(0, 3))],
                draw.int(0, 3), draw.int(0, 50), tol, method, select, bool(draw.byte() % 2),
                rule, 0, 1, drop, normalize,
            )  # fmt: skip
        elif call == 7:
            x = draw.floats(draw.int(0, 60)).astype(draw.pick(_DTYPES), copy=False)
            x = x.reshape(-1, 3) if x.size % 3 == 0 and draw.byte() > 30 else x
            _core.kmeans(x, k, draw.int(0, 3), draw.int(0, 50), draw.int(0, 9), 1)
        else:
            _core.shuffled_network(sizes_arr, blocks, shuffle, draw.int(0, 9), draw.int(0, 9))
    except CLEAR:
        pass


def corpus_dir(name: str) -> Path:
    """The committed seed inputs of target ``name``."""
    return Path(__file__).resolve().parent / "corpus" / name


def corpus(name: str) -> list[Path]:
    folder = corpus_dir(name)
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []


# Command lines of the fast subcommands, drawn from their options and values that are
# valid, borderline or wrong; every path is inside a fresh folder. The contract of the
# CLI: exit status 0, or 2 with one line on stderr; never a traceback.
_OPTIONS = {
    "--n-clusters": ["2", "3", "auto", "2:4", "0", "-1", "5:3", "2:2", "x", "2:2147483647", ""],
    "--n-shuffles": ["0", "1", "3", "-2", "abc", "1e1"],
    "--shuffle": [*modcore.SHUFFLES, "bogus"],
    "--assign-labels": ["cluster_qr", "kmeans", "x"],
    "--n-init": ["1", "2", "0", "-3"],
    "--select-by": ["inertia", "ncut", "x"],
    "--drop": ["isolated", "unreachable", "x"],
    "--normalize": ["none", "rescale", "x"],
    "--seed": ["0", "-1", "18446744073709551617", "x"],
    "--n-jobs": ["1", "0", "-1", "999"],
    "--input-shape": ["6", "1,2", "a", "0", ""],
    "--json": ["out/r.json", "net.npz", "out", "missing/r.json", "out/r.csv"],
    # Only folders the command refuses: a report written is 4 figures, seconds per run,
    # and is tested by tests/test_report*.py, not here.
    "--report": ["net.npz", "missing/rep", "net.txt"],
    "--csv": ["out/r.csv", "out/r.json", "net.npz"],
    "--out": ["out/log.jsonl", "out", "net.npz", "out/r.json"],
}
_FLAGS = ["--refine", "--no-refine", "--quiet", "--help"]
_NETWORKS = ["net.npz", "nets", "missing.npz", "out", "net.txt", ""]


@functools.cache
def _cli_network() -> bytes:
    """A 6-5-4 chain as .npz bytes: small, so a run's cost is the command's, not the maths'."""
    rng = np.random.default_rng(0)
    out = io.BytesIO()
    np.savez(out, rng.normal(size=(6, 5)), rng.normal(size=(5, 4)))
    return out.getvalue()


@target("cli", "modcore.cli.main", "modcore.report.verdict", *_LOG_READERS)
def cli(data: bytes) -> None:
    from modcore.cli import main as cli

    draw = Draw(data)
    argv = [draw.pick(["analyze", "sweep", "analyze", "bogus"])]
    for _ in range(draw.int(0, 6)):
        if draw.byte() < 40:
            argv.append(draw.pick(_FLAGS))
        else:
            option = draw.pick(list(_OPTIONS))
            argv += [option, draw.pick(_OPTIONS[option])]
    argv.append(draw.pick(_NETWORKS))
    if "--n-shuffles" not in argv:
        argv += ["--n-shuffles", "2"]  # the default, 1000, is a legitimate but long run
    with scratch("modcore-fuzz-cli-") as root:
        (root / "net.npz").write_bytes(_cli_network())
        (root / "nets").mkdir()
        (root / "nets" / "a.npz").write_bytes(_cli_network())
        (root / "out").mkdir()
        (root / "net.txt").write_text("not a network")
        err = io.StringIO()
        cwd = os.getcwd()
        os.chdir(root)
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
                status = cli.main(argv)
        finally:
            os.chdir(cwd)
    if status not in (0, 2):
        raise AssertionError(f"modcore {' '.join(argv)}: exit {status}")
    lines = err.getvalue().strip().splitlines()
    failed = [line for line in lines if not line.startswith("modcore: note:")]
    if status == 2 and len(failed) != 1:
        raise AssertionError(f"modcore {' '.join(argv)}: stderr is not one line:\n{err.getvalue()}")
