"""Run modcore's fuzz targets under atheris (coverage-guided, libFuzzer), each in its own
process, and report their executions and findings.

    python tests/fuzz/run.py [--seconds 30] [--runs N] [TARGET ...]

Each target starts from its committed seeds (tests/fuzz/corpus/<target>/) and writes the
inputs it finds to a scratch corpus. A finding (an exception other than ValueError /
TypeError, a crash, a time-out, memory over the limit) is copied to
tests/fuzz/corpus/<target>/found/, so tests/test_fuzz_corpus.py replays it from then on,
and the run exits 1. Needs ``pip install atheris`` (Linux x86_64 wheels).
"""

from __future__ import annotations

import argparse
import importlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def fuzz_one(name: str, libfuzzer_args: list) -> None:
    """In the child: instrument modcore's Python code and fuzz target ``name``."""
    import atheris

    sys.path.insert(0, str(HERE))
    with atheris.instrument_imports(include=["modcore", "targets"]):
        import targets

        for module in targets.MODULES[name]:
            importlib.import_module(module)
    atheris.Setup([sys.argv[0], *libfuzzer_args], targets.TARGETS[name])
    atheris.Fuzz()


def run(name: str, budget: list, scratch: Path) -> tuple:
    """(executions, seconds, seconds fuzzing, finding files) of one target's run: the
    seconds count the process's start (imports: torch, pandas), the fuzzing ones do not."""
    corpus = scratch / "corpus"
    found = scratch / "found"
    corpus.mkdir()
    found.mkdir()
    seeds = HERE / "corpus" / name
    args = [
        *budget,
        f"-artifact_prefix={found}/",
        "-timeout=60",  # seconds per input: a hang is a finding
        "-rss_limit_mb=4096",  # a memory blow-up is a finding
        "-print_final_stats=1",
        str(corpus),
        *([str(seeds)] if seeds.is_dir() else []),
    ]
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, __file__, "--child", name, *args],
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    runs = re.findall(r"stat::number_of_executed_units:\s*(\d+)", proc.stderr)
    done = re.findall(r"Done \d+ runs in (\d+) second", proc.stderr)
    fuzzing = max(int(done[-1]), 1) if done else seconds
    # libFuzzer also saves inputs slower than 10 s (slow-unit-*): under load, not a
    # finding; one over -timeout is.
    findings = sorted(p for p in found.iterdir() if not p.name.startswith("slow-unit-"))
    if proc.returncode != 0 and not findings:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"fuzz target {name}: exit {proc.returncode} and no finding saved")
    if findings:
        sys.stderr.write(proc.stderr[-4000:])
    return (int(runs[-1]) if runs else 0), seconds, fuzzing, findings


def main(argv=None) -> int:
    sys.path.insert(0, str(HERE))
    from targets import TARGETS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("targets", nargs="*", help=f"default: all ({', '.join(TARGETS)})")
    parser.add_argument("--seconds", type=int, help="per target (default 30 without --runs)")
    parser.add_argument(
        "--runs",
        type=int,
        help="executions per target (with --seconds: or that time, whichever ends first)",
    )
    args = parser.parse_args(argv)
    unknown = set(args.targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown targets {sorted(unknown)}; expected some of {', '.join(TARGETS)}")
    seconds = 30 if args.seconds is None and args.runs is None else args.seconds
    limit = [f"-runs={args.runs}"] if args.runs else []
    limit += [f"-max_total_time={seconds}"] if seconds else []
    failed = False
    print(
        f"{'target':<12} {'executions':>11} {'seconds':>8} {'fuzzing':>8} {'per second':>10}"
        "  findings"
    )
    for name in args.targets or list(TARGETS):
        with tempfile.TemporaryDirectory(prefix=f"modcore-fuzz-{name}-") as tmp:
            runs, seconds, fuzzing, findings = run(name, limit, Path(tmp))
            keep = HERE / "corpus" / name / "found"
            for path in findings:
                keep.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, keep / path.name)
        failed |= bool(findings)
        names = ", ".join(p.name for p in findings) or "none"
        print(
            f"{name:<12} {runs:>11} {seconds:>8.0f} {fuzzing:>8.0f} {runs / fuzzing:>10.0f}"
            f"  {names}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        fuzz_one(sys.argv[2], sys.argv[3:])
    else:
        sys.exit(main())
