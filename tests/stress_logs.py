"""Stress on a shared results log: sweeps (and reproductions) started at the same instant
on one file, and killed (SIGKILL) at random points, repeated.

    python tests/stress_logs.py [--jobs sweep reproduce] [--reps 200] [--processes 2 4]
                                [--kills 200]

A round of ``P`` processes: each runs the job (``modcore.sweep`` of 24 small networks,
or ``modcore reproduce`` with a tiny configuration: the "line" data set, one seed, a
16-16 MLP, 1 epoch, 2 shuffles) into one log, all released at one instant; afterwards
the log must hold each run exactly once, with the values the job alone gives (no row
duplicated, lost or mixed). A kill round: the job is killed after a random delay within
its length, then run again on the same log, which must finish it (or refuse it with a
ValueError naming the file), leaving each run once with the values of the job alone.

The processes are forked from this one after it has imported modcore (and torch), so a
round costs the job, not the imports. tests/test_log_stress.py runs a few rounds of
each; the full run's numbers are in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

NETWORKS = tuple("abcdefghijklmnopqrstuvwx")


def make_networks(folder: Path) -> None:
    rng = np.random.default_rng(0)
    folder.mkdir()
    for name in NETWORKS:
        np.savez(folder / f"{name}.npz", rng.normal(size=(8, 6)), rng.normal(size=(6, 3)))


def sweep(folder: Path) -> None:
    import modcore

    modcore.sweep(
        folder / "nets",
        results_path=folder / "log" / "results.jsonl",
        n_shuffles=10,
        n_clusters=2,
        seed=0,
        n_jobs=1,
        progress=False,
    )


def reproduce(folder: Path) -> None:
    import torch

    from modcore.experiments.reproduce import reproduce as run

    torch.set_num_threads(1)
    run(
        ["line"],
        seeds=1,
        n_shuffles=2,
        epochs=1,
        n_train=200,
        n_test=100,
        hidden=(16, 16),
        n_clusters=2,
        n_init=1,
        n_jobs=1,
        progress=False,
        out=folder / "log",
    )


# job -> (run it on a folder, its log in that folder, a row's run, a row's values)
JOBS = {
    "sweep": (sweep, "log/results.jsonl", ("name", "shuffle"), ("ncut", "p_value")),
    "reproduce": (
        reproduce,
        "log/runs.jsonl",
        ("dataset", "condition", "seed"),
        ("test_accuracy", "modcore_ncut", "authors_ncut"),
    ),
}


def _child(job: str, folder: Path, barrier, err: Path) -> None:
    """In a forked process: wait for the others (``barrier``), run the job, and leave
    the error's text in ``err`` if it fails."""
    try:
        if barrier is not None:
            barrier.wait(timeout=60)
        JOBS[job][0](folder)
    except BaseException as exc:  # every failure is reported
        err.write_text(f"{type(exc).__name__}: {exc}")
        os._exit(1)
    os._exit(0)


def start(ctx, job: str, folder: Path, barrier=None, index: int = 0):
    err = folder / f"error{index}.txt"
    err.unlink(missing_ok=True)
    proc = ctx.Process(target=_child, args=(job, folder, barrier, err))
    proc.start()
    return proc, err


def finish(proc, err: Path, timeout: float = 600) -> str | None:
    """None if the process succeeded; else its error."""
    proc.join(timeout)
    if proc.exitcode is None:
        proc.kill()
        proc.join()
        return "hung"
    if proc.exitcode == 0:
        return None
    return err.read_text() if err.exists() else f"exit {proc.exitcode}"


def rows_of(log: Path) -> list:
    if not log.exists():
        return []
    with open(log, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def runs_of(job: str, log: Path) -> dict:
    """run -> values of the log's rows; an AssertionError for a run twice."""
    _, _, key, values = JOBS[job]
    out: dict = {}
    for row in rows_of(log):
        run = tuple(row[k] for k in key)
        if run in out:
            raise AssertionError(f"{run} twice")
        out[run] = tuple(row[v] for v in values)
    return out


def check_log(job: str, log: Path, expected: dict) -> str | None:
    """None if the log holds each run once with the expected values; else why not."""
    try:
        got = runs_of(job, log)
    except AssertionError as exc:
        return str(exc)
    if sorted(got) != sorted(expected):
        return f"runs {sorted(got)}, expected {sorted(expected)}"
    for run, values in got.items():
        if values != expected[run]:
            return f"{run}: {values}, alone {expected[run]}"
    return None


def together(ctx, job: str, folder: Path, n_processes: int, expected: dict) -> str | None:
    shutil.rmtree(folder / "log", ignore_errors=True)
    barrier = ctx.Barrier(n_processes)
    procs = [start(ctx, job, folder, barrier, i) for i in range(n_processes)]
    failed = [why for p, err in procs if (why := finish(p, err))]
    return f"failed: {failed}" if failed else check_log(job, folder / JOBS[job][1], expected)


def killed(ctx, job, folder, rng: random.Random, expected: dict, lasts: float, left: list):
    """Kill the job at a random point of its ``lasts`` seconds, then run it again;
    ``left`` gets the number of rows the killed job had written (-1: its last row cut
    short), or "refused" when the second run refused the log."""
    shutil.rmtree(folder / "log", ignore_errors=True)
    log = folder / JOBS[job][1]
    first, _ = start(ctx, job, folder)
    time.sleep(rng.uniform(0.0, lasts))
    os.kill(first.pid, signal.SIGKILL)
    first.join()
    try:
        left.append(len(runs_of(job, log)))
    except ValueError:  # json: the row being written when it was killed
        left.append(-1)
    except AssertionError as exc:  # a run written twice by one process
        left.append(-1)
        return f"the killed run left {exc}"
    second, err = start(ctx, job, folder)
    why = finish(second, err)
    if why is not None:
        if why.startswith("ValueError") and str(log) in why:
            left[-1] = "refused"
            return None  # refused clearly, naming the file
        return f"second run: {why}"
    return check_log(job, log, expected)


def _tally(what: str, done: int, bad: list) -> None:
    """A line on stderr every 10 rounds, so that a long run shows where it is."""
    if done % 10 == 0:
        print(f"{what}: {done - len(bad)} of {done} rounds passed so far", file=sys.stderr)


def stress(job: str, args, rng: random.Random, root: Path) -> list:
    ctx = multiprocessing.get_context("fork")
    failures = []
    folder = root / job
    folder.mkdir()
    if job == "sweep":
        make_networks(folder / "nets")
    started = time.perf_counter()
    why = finish(*start(ctx, job, folder))
    lasts = time.perf_counter() - started  # the job's whole life in a forked process
    if why is not None:
        return [f"{job} alone: {why}"]
    expected = runs_of(job, folder / JOBS[job][1])
    print(f"{job}: {len(expected)} runs, {lasts:.1f} s alone", flush=True)
    for n in args.processes:
        started = time.perf_counter()
        bad = []
        for i in range(args.reps):
            if (why := together(ctx, job, folder, n, expected)) is not None:
                bad.append(why)
            _tally(f"{job}: {n} at once", i + 1, bad)
        failures += bad
        print(
            f"{job}: {n} at once: {args.reps - len(bad)} of {args.reps} rounds passed "
            f"({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
    started = time.perf_counter()
    left: list = []
    bad = []
    for i in range(args.kills):
        if (why := killed(ctx, job, folder, rng, expected, lasts, left)) is not None:
            bad.append(why)
        _tally(f"{job}: killed", i + 1, bad)
    failures += bad
    partial = sum(isinstance(n, int) and 0 < n < len(expected) for n in left)
    print(
        f"{job}: killed, then run again: {args.kills - len(bad)} of {args.kills} rounds passed "
        f"({time.perf_counter() - started:.0f} s); killed with no row written "
        f"{left.count(0)}, some {partial}, all {left.count(len(expected))}, a row cut short "
        f"{left.count(-1)}; the log refused by the next run {left.count('refused')}",
        flush=True,
    )
    return failures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", nargs="+", choices=list(JOBS), default=list(JOBS))
    parser.add_argument("--reps", type=int, default=200, help="rounds per process count")
    parser.add_argument("--processes", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--kills", type=int, default=200, help="kill rounds")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    # Imported once, here, so that each forked process starts with them (the jobs
    # import pandas, torch and matplotlib when they run).
    import pandas  # noqa: F401

    import modcore

    if "reproduce" in args.jobs:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot
        import torch  # noqa: F401

        import modcore.experiments.reproduce
        import modcore.nn  # noqa: F401
    rng = random.Random(args.seed)
    failures = []
    with tempfile.TemporaryDirectory(prefix="modcore-stress-") as tmp:
        for job in args.jobs:
            failures += stress(job, args, rng, Path(tmp))
    for why in failures[:10]:
        print("failed:", why, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
