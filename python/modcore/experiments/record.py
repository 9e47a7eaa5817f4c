"""Copy a reproduction that may still be running into a record that can be committed.

    python -m modcore.experiments.record SOURCE RECORD [--seeds N] [--dtype float16|float32]

e.g. ``PYTHONPATH=python python3 -m modcore.experiments.record /work/cnn_run results/cnn``
while ``modcore reproduce --arch cnn --out /work/cnn_run`` goes on. ``RECORD`` then holds:

- ``runs.jsonl``: the finished runs of ``SOURCE`` (rows being written are left out;
  rows already in ``RECORD`` are kept);
- ``checkpoints/``: each finished run's network as ``<name>.safetensors``
  (:mod:`modcore.nn.record`; float16 by default, half the size: its rows were computed
  from the float32 ``.pt`` in ``SOURCE``), and as the float32 ``.pt`` itself when its row
  is not written yet, so that a resumed reproduction computes that row exactly;
- ``training/``: the state of each training under way after its last whole epoch,
  float32 (:mod:`modcore.nn.train_state`), so that ``modcore reproduce --out RECORD``
  (same settings) on a fresh clone resumes each training where it stopped, bit for bit;
  states of trainings that finished since the last copy are removed;
- ``table.csv``, ``table.md`` (saying how many seeds each condition holds), ``ncut.png``
  and ``summary.json`` of those runs.

Every file is copied whole (each state and checkpoint is only ever replaced whole in
``SOURCE``) and written atomically; the order (states, then rows, then checkpoints)
leaves every training in ``RECORD`` either with its state or with its networks.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ..common.files import atomic_write, write_json
from .conditions import RULES, SETTINGS
from .runlog import read_runs, run_log
from .tables import write_tables

__all__ = ["record_run"]


def record_run(source, record, *, seeds=5, dtype="float16", say=print) -> dict:
    """Copy the reproduction in ``source`` into ``record`` (see the module's docstring).

    Parameters
    ----------
    source, record : str or path-like
        The ``--out`` of a reproduction (running or not), and the record's folder.
    seeds : int, default=5
        Seeds per condition the reproduction asks for (a table holding fewer says so).
    dtype : {"float16", "float32"}, default="float16"
        Of the finished networks' safetensors.
    say : callable, default=print
        Where the lines saying what was copied go.

    Returns
    -------
    dict
        The summary written to ``record/summary.json``.

    Raises
    ------
    ValueError
        If ``source`` holds no reproduction, or ``record`` holds runs made with other
        settings.
    """
    from ..nn import checkpoint
    from ..nn import record as records

    source, record_dir = Path(source), Path(record)
    if not (source / "runs.jsonl").is_file():
        raise ValueError(f"{source}: no runs.jsonl; not the --out of a reproduction")
    (record_dir / "training").mkdir(parents=True, exist_ok=True)
    (record_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    # 1. The states, each a whole file (replaced, never rewritten, in the source).
    states = sorted(p.name for p in (source / "training").glob("*.pt"))
    for name in states:
        _copy(source / "training" / name, record_dir / "training" / name)
    # 2. The finished rows (a row is written after its checkpoint).
    rows = read_runs(source / "runs.jsonl")
    kept = _merge(record_dir / "runs.jsonl", rows)
    written = {r["checkpoint"] for r in kept}
    # 3. The networks: a training without a state in step 1 had saved them before it.
    for path in sorted((source / "checkpoints").glob("*.pt")):
        if f"checkpoints/{path.name}" in written:
            records.save(
                checkpoint.load(path),
                record_dir / "checkpoints" / f"{path.stem}.safetensors",
                dtype=dtype,
            )
            (record_dir / "checkpoints" / path.name).unlink(missing_ok=True)
        else:
            _copy(path, record_dir / "checkpoints" / path.name)
    for stale in (record_dir / "training").glob("*.pt"):
        if stale.name not in states:
            stale.unlink()
    table, figure = write_tables(record_dir, kept, seeds=seeds, say=say)
    first = kept[0] if kept else {}
    summary = {
        "recorded_from": str(source),
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "settings": {k: first.get(k) for k in SETTINGS},
        "rules": {rule: what for rule, (what, _) in RULES.items()},
        "seeds": seeds,
        "runs": len(kept),
        "trainings_under_way": states,
        "checkpoints": f"safetensors, {dtype} (rows computed from float32)",
        "files": {"runs": "runs.jsonl", "table": ["table.csv", "table.md"], "figure": figure},
        "table": json.loads(table.to_json(orient="records")),
    }
    write_json(record_dir / "summary.json", summary)
    say(f"{len(kept)} runs and {len(states)} trainings under way recorded in {record_dir}")
    return summary


def _copy(source: Path, target: Path) -> None:
    """Copy one file whole: read through one open file (one version of it), then write
    atomically."""
    with open(source, "rb") as f:
        data = f.read()
    with atomic_write(target, "wb") as f:
        f.write(data)


def _merge(path: Path, rows: list) -> list:
    """Append to the record's run log the rows it lacks; all its rows."""
    if not rows:
        return read_runs(path)
    first = rows[0]

    def theirs(run):
        return {k: run.get(k) for k in (*SETTINGS, "rules", "unpruned_from")}

    ours = theirs(first)
    with run_log(path, "modcore reproduce runs", ours, theirs, lambda *a, **k: None) as log:
        have = {(r["dataset"], r["condition"], r["seed"]) for r in log.rows}
        kept = list(log.rows)
        for row in rows:
            if (row["dataset"], row["condition"], row["seed"]) not in have:
                log.append(row)
                kept.append(row)
    return kept


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m modcore.experiments.record", description=__doc__.splitlines()[0]
    )
    parser.add_argument("source", type=Path, help="the --out of the reproduction")
    parser.add_argument("record", type=Path, help="the record's folder, e.g. results/cnn")
    parser.add_argument("--seeds", type=int, default=5, help="seeds asked for (default 5)")
    parser.add_argument("--dtype", choices=("float16", "float32"), default="float16")
    args = parser.parse_args(argv)
    try:
        record_run(args.source, args.record, seeds=args.seeds, dtype=args.dtype)
    except ValueError as exc:
        print(f"modcore.experiments.record: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
