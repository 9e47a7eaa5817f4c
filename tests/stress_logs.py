"""Stress on a shared results log: sweeps started at the same instant on one file, and
sweeps killed (SIGKILL) at random points, repeated.

    python tests/stress_logs.py [--reps 200] [--processes 2 4] [--kills 200]

A round of ``P`` processes: each runs ``modcore.sweep`` of the same 24 networks into
one log, all released at one instant; afterwards the log must hold each network exactly
once, with the values a sweep alone gives (no row duplicated, lost or mixed). A kill
round: a sweep is killed after a random delay, then a second sweep on the same log must
finish it (or refuse it with a ValueError naming the file), leaving each network once.
tests/test_log_stress.py runs a few rounds of each; the full run's numbers are in
benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

NETWORKS = tuple("abcdefghijklmnopqrstuvwx")
# One sweep: released at the instant given (a wall-clock time), so every process of a
# round starts its sweep together, after its imports.
SWEEP = """
import sys, time
import modcore
start = float(sys.argv[3])
time.sleep(max(0.0, start - time.time()))
modcore.sweep(sys.argv[1], results_path=sys.argv[2], n_shuffles=200, n_clusters=2, seed=0,
              n_jobs=1, progress=False)
"""


def make_networks(folder: Path) -> None:
    rng = np.random.default_rng(0)
    for name in NETWORKS:
        np.savez(folder / f"{name}.npz", rng.normal(size=(8, 6)), rng.normal(size=(6, 3)))


def start_sweep(nets: Path, log: Path, at: float) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(SWEEP), str(nets), str(log), str(at)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def rows_of(log: Path) -> list:
    with open(log, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def check_log(log: Path, expected: dict | None) -> str | None:
    """None if the log holds each network once with the expected values; else why not."""
    rows = rows_of(log)
    names = sorted(r["name"] for r in rows)
    if names != [f"{n}.npz" for n in NETWORKS]:
        return f"names {names}"
    if expected is not None:
        for row in rows:
            if row["ncut"] != expected[row["name"]]:
                return f"{row['name']}: ncut {row['ncut']}, alone {expected[row['name']]}"
    return None


def together(nets: Path, folder: Path, n_processes: int, expected: dict) -> str | None:
    log = folder / "results.jsonl"
    log.unlink(missing_ok=True)
    at = time.time() + 2.0  # after every process has imported modcore
    procs = [start_sweep(nets, log, at) for _ in range(n_processes)]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    failed = [e.strip().splitlines()[-1] for p, e in zip(procs, errors) if p.returncode != 0]
    return f"exit: {failed}" if failed else check_log(log, expected)


def killed(nets, folder, rng: random.Random, expected: dict, lasts: float, left: list):
    """Kill a sweep at a random point of its ``lasts`` seconds, then resume it; ``left``
    gets the number of rows the killed sweep had written."""
    log = folder / "results.jsonl"
    log.unlink(missing_ok=True)
    first = start_sweep(nets, log, 0.0)
    time.sleep(rng.uniform(0.0, lasts))
    first.send_signal(signal.SIGKILL)
    first.wait()
    left.append(len(rows_of(log)) if log.exists() else 0)
    second = start_sweep(nets, log, 0.0)
    _, err = second.communicate(timeout=300)
    if second.returncode != 0:
        last = err.strip().splitlines()[-1] if err.strip() else ""
        if "ValueError" in last and str(log) in last:
            return None  # refused clearly, naming the file
        return f"second sweep: exit {second.returncode}: {last}"
    return check_log(log, expected)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=200, help="rounds per process count")
    parser.add_argument("--processes", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--kills", type=int, default=200, help="kill rounds")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    failures = []
    with tempfile.TemporaryDirectory(prefix="modcore-stress-") as tmp:
        folder = Path(tmp)
        nets = folder / "nets"
        nets.mkdir()
        make_networks(nets)
        alone = folder / "alone.jsonl"
        started = time.perf_counter()
        start_sweep(nets, alone, 0.0).wait()
        lasts = time.perf_counter() - started  # a sweep's whole life, imports included
        expected = {r["name"]: r["ncut"] for r in rows_of(alone)}
        for n in args.processes:
            started = time.perf_counter()
            bad = [why for _ in range(args.reps) if (why := together(nets, folder, n, expected))]
            failures += bad
            print(
                f"{n} sweeps at once: {args.reps - len(bad)} of {args.reps} rounds passed "
                f"({time.perf_counter() - started:.0f} s)"
            )
        started = time.perf_counter()
        left: list = []
        bad = [
            why
            for _ in range(args.kills)
            if (why := killed(nets, folder, rng, expected, lasts, left))
        ]
        failures += bad
        partial = sum(0 < n < len(NETWORKS) for n in left)
        print(
            f"killed, then resumed: {args.kills - len(bad)} of {args.kills} rounds passed "
            f"({time.perf_counter() - started:.0f} s); killed with no row written "
            f"{left.count(0)}, some {partial}, all {left.count(len(NETWORKS))}"
        )
    for why in failures[:10]:
        print("failed:", why, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
