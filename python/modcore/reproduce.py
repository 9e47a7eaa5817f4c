"""Reproduce Filan et al.'s findings in one call: ``modcore reproduce``.

For each data set that is available, each seed and each of four conditions
({pruned 90 %, unpruned} x {dropout, none}), train the paper's network, cluster
it (k = 12), test it against the "layer" and "layer_nonzero" shuffle nulls and
cluster the same network as initialised (untrained). ``arch="mlp"`` is the 2020
paper's MLP (dropout 0.5 after each hidden layer); ``arch="cnn"`` the 2021
paper's small CNN (:class:`modcore.nn.CNN`; dropout 0.25 after each conv block
and 0.5 after the dense layer), whose graph is its conv channels only, as the
2021 paper clustered it (the tracer's ``preset="paper_cnn"``).

Training products and analysis are kept apart. A training saves its state after
every epoch in ``<out>/training/`` (:mod:`modcore.nn.train_state`) and resumes from
it, bit for bit; each network is saved in ``<out>/checkpoints/`` as soon as it exists
(the unpruned one when the plain phase ends). Each run's row of ``<out>/runs.jsonl``
is computed from its checkpoint, under both label rules of :data:`RULES` (the
authors' k-means rule and modcore's default), and appended at once. Runs already in
the file are skipped, so a stopped reproduction resumes where it was; a run whose
checkpoint is there (``.pt``, or a record's ``.safetensors``, see
:mod:`modcore.reproduce_record`) but whose row is not is analysed without training:
moving ``runs.jsonl`` aside recomputes every row from the checkpoints (after the
label rules changed, say). At the end the runs are aggregated into ``table.csv``,
``table.md``, ``summary.json`` and the figure ``ncut.png``.

Training follows the authors' pipeline (their ``train_nn.run``): one training
per data set, dropout rate and seed, by :func:`modcore.nn.paper_recipe`:
``epochs`` of plain training, whose network is the *unpruned* condition, then
``epochs`` of pruned fine-tuning from it to 90 % sparsity, the *pruned*
condition. Every run of a data set sees the same data (data seed 0); the seed
sets the initialisation, the batch order, dropout, and the clustering / shuffles.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import platform
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import __version__
from .cluster import ClusterSettings, check_settings
from .files import ResultLog, atomic_write
from .io import check_n_jobs, check_positive_int
from .reproduce_rows import run_schema
from .significance import MAX_SHUFFLES

if TYPE_CHECKING:
    import pandas

__all__ = ["CONDITIONS", "NULLS", "reproduce", "aggregate", "read_runs"]

#: name -> (pruned, dropout rate), in table order.
CONDITIONS = {
    "pruned, dropout": (True, 0.5),
    "pruned": (True, 0.0),
    "unpruned, dropout": (False, 0.5),
    "unpruned": (False, 0.0),
}
NULLS = ("layer", "layer_nonzero")
#: The label rules every run is clustered by, in table order: name -> (description,
#: modcore.spectral_cluster's settings). The authors' rule (their k-means, restarts kept
#: by lowest inertia, no refinement) is the one their published numbers come from; its
#: ``n_init`` is reproduce()'s. modcore's default rule is deterministic and finds lower
#: n-cuts (see README, "Two label rules").
RULES = {
    "authors": (
        "the authors' rule: k-means, n_init restarts (25 by default) kept by lowest "
        "inertia, no refinement",
        {"assign_labels": "kmeans", "refine": False, "select_by": "inertia"},
    ),
    "modcore": (
        "modcore's default rule: cluster_qr, refined by n-cut moves",
        {"assign_labels": "cluster_qr", "refine": True, "select_by": "inertia"},
    ),
}
ARCHS = ("mlp", "cnn")
#: Epochs per phase by architecture (the papers' recipes, modcore.nn.RECIPES).
DEFAULT_EPOCHS = {"mlp": 20, "cnn": 10}
DEFAULT_DATASETS = ("fashion", "line", "mnist", "cifar10")
KNOWN_DATASETS = ("fashion", "line", "mnist", "cifar10", "cifar10-rgb")
HIDDEN = (256, 256, 256, 256)
QUICK: dict[str, Any] = {
    "n_train": 1000,
    "n_test": 500,
    "epochs": 1,
    "n_shuffles": 20,
    "seeds": 1,
    "datasets": ("line",),
}
# Every setting a run's numbers depend on, kept in each run: runs.jsonl holding runs
# made with other values is refused, never mixed in. A new one is one more name here
# (tests/test_reproduce.py checks that reproduce() has no other such parameter).
SETTINGS = (
    "arch",
    "epochs",
    "n_shuffles",
    "n_clusters",
    "n_init",
    "max_iter",
    "tol",
    "eigen_method",
    "drop",
    "normalize",
    "n_train",
    "n_test",
    "hidden",
)
_SCHEMA = run_schema(CONDITIONS, NULLS, RULES, ARCHS)
# Runs written before these were settings used these values (reproduce had no such
# parameters and passed ncut_significance's defaults; only MLPs were reproduced; the
# labels came from k-means restarts kept by inertia, unrefined).
_SETTINGS_BEFORE = {
    "arch": "mlp",
    "max_iter": 300,
    "tol": 1e-6,
    "eigen_method": "auto",
    "assign_labels": "kmeans",
    "refine": False,
    "select_by": "inertia",
    "drop": "isolated",
    "normalize": None,
}
# Where the unpruned network comes from; runs made before it was the pruned run's plain
# phase (a separate training of 2 * epochs) are refused, not mixed in.
UNPRUNED_FROM = "the plain phase of the pruned run"
_UNPRUNED_BEFORE = "a separate training of 2 * epochs"


def reproduce(
    datasets=None,
    *,
    arch="mlp",
    seeds=None,
    n_shuffles=None,
    epochs=None,
    out="results",
    quick=False,
    n_clusters=12,
    n_init=25,
    max_iter=300,
    tol=1e-5,
    eigen_method="auto",
    drop="isolated",
    normalize=None,
    n_train=None,
    n_test=None,
    hidden=HIDDEN,
    data_dir=None,
    device="cpu",
    n_jobs=None,
    max_runs=None,
    progress=True,
    command=None,
):
    """Run (or resume) the reproduction and write its table, summary and figure.

    Parameters
    ----------
    datasets : sequence of str, optional
        Data sets to try, in order; absent ones are skipped with a printed reason.
        Default: fashion, line, mnist, cifar10 (with ``quick``: line).
    arch : {"mlp", "cnn"}, default="mlp"
        The 2020 paper's MLP or the 2021 paper's CNN (see the module's docstring).
    seeds : int, optional
        Runs per data set and condition, seeds 0 .. seeds-1 (default 5; quick: 1).
    n_shuffles : int, optional
        Size of each shuffle null (default 320; quick: 20).
    epochs : int, optional
        Epochs per phase (default 20 for the MLP, 10 for the CNN; quick: 1):
        the unpruned network is the one after ``epochs`` of plain training,
        the pruned one continues from it for ``epochs`` of pruning.
    out : str or path-like, default="results"
        Directory of ``runs.jsonl``, ``checkpoints/``, ``training/`` (the states
        of trainings under way), ``table.csv``, ``table.md``, ``summary.json`` and
        ``ncut.png``.
    quick : bool, default=False
        Tiny data (1000 training, 500 test examples) and the quick defaults above.
    n_clusters : int, default=12
        Number of modules k.
    n_init : int, default=25
        Restarts of the authors' k-means rule. Every run is clustered by both
        label rules of :data:`RULES`: the authors' (k-means, lowest inertia, no
        refinement) and modcore's default (cluster_qr refined by n-cut moves).
    max_iter, tol, eigen_method : default=300, 1e-5, "auto"
        Solver settings, as in :func:`modcore.spectral_cluster`.
    drop, normalize : default="isolated", None
        How each network and its shuffles become graphs, as in
        :func:`modcore.ncut_significance` (runs made before these existed used
        the defaults).
    n_train, n_test : int, optional
        Use a subset of the data (default: all; quick: 1000 / 500).
    hidden : sequence of int, default=(256, 256, 256, 256)
        The MLP's hidden widths; the input width comes from the data set, the
        output is 10. Not used for the CNN.
    data_dir : path-like, optional
        Passed to :func:`modcore.nn.load_dataset`.
    device : str, default="cpu"
        Where training and pruning run: ``"cpu"``, or ``"cuda"`` / ``"cuda:N"``
        when torch sees a CUDA device. Recorded in each run; the clustering
        always runs on the CPU.
    n_jobs : int, optional
        Threads of the clustering (default: all cores).
    max_runs : int, optional
        Stop after this many new runs (the table is still written): for tests
        and for doing a long reproduction in slices.
    progress : bool, default=True
        Print a line per run (and per skipped data set) on stdout, and the training
        epochs on stderr when it is a terminal.
    command : str, optional
        The command line, kept in ``summary.json``.

    Returns
    -------
    pandas.DataFrame
        The table (one row per data set and condition), as in ``table.csv``.

    Raises
    ------
    ValueError, TypeError
        On a bad argument, when no data set is available, or when ``runs.jsonl``
        holds runs made with other ``SETTINGS`` (use another ``out``) or lines
        that are not runs. ``runs.jsonl`` is a :class:`modcore.files.ResultLog`:
        a second reproduction on the same ``out`` waits until the first is done,
        then skips the runs it finished.
    KeyboardInterrupt
        On Ctrl-C; the runs finished so far stay in ``runs.jsonl``, the networks
        in ``checkpoints/``, each training's state after its last whole epoch in
        ``training/``.
    """
    started = time.perf_counter()
    datasets = (
        list(datasets) if datasets else list(QUICK["datasets"] if quick else DEFAULT_DATASETS)
    )
    for name in datasets:
        if name not in KNOWN_DATASETS:
            raise ValueError(
                f"unknown data set {name!r}; expected some of {', '.join(KNOWN_DATASETS)}"
            )
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {ARCHS}, got {arch!r}")
    # Checked once per rule; the settings the rules share are recorded once.
    solver = {
        rule: check_settings(
            n_clusters=n_clusters,
            n_init=n_init,
            max_iter=max_iter,
            tol=tol,
            eigen_method=eigen_method,
            drop=drop,
            normalize=normalize,
            **labels,
        )
        for rule, (_, labels) in RULES.items()
    }["authors"]
    device = check_device(device)
    settings = {
        "arch": arch,
        "epochs": check_positive_int(
            epochs if epochs is not None else (QUICK["epochs"] if quick else DEFAULT_EPOCHS[arch]),
            "epochs",
        ),
        "n_shuffles": check_positive_int(
            n_shuffles if n_shuffles is not None else (QUICK["n_shuffles"] if quick else 320),
            "n_shuffles",
            maximum=MAX_SHUFFLES,
        ),
        **{k: v for k, v in dataclasses.asdict(solver).items() if k in SETTINGS},
        "n_train": n_train if n_train is not None else (QUICK["n_train"] if quick else None),
        "n_test": n_test if n_test is not None else (QUICK["n_test"] if quick else None),
        "hidden": (
            [check_positive_int(h, f"hidden[{i}]") for i, h in enumerate(hidden)]
            if arch == "mlp"
            else None
        ),
    }
    seeds, max_runs, n_jobs, say = run_options(seeds, quick, QUICK, max_runs, n_jobs, progress)
    # Per-epoch bars only on a terminal: in a log file they would bury the per-run lines.
    show_epochs = bool(progress) and sys.stderr.isatty()
    out = Path(out)
    runs_path = out / "runs.jsonl"
    ours = {**settings, "rules": rules_made(settings), "unpruned_from": UNPRUNED_FROM}

    def theirs(run):
        made = {k: run.get(k, _SETTINGS_BEFORE.get(k)) for k in SETTINGS}
        return {
            **made,
            "rules": run.get("rules", _rule_before(run)),
            "unpruned_from": run.get("unpruned_from", _UNPRUNED_BEFORE),
        }

    # Before the log is opened, so that a run with no data set creates nothing.
    available, skipped = available_datasets(
        datasets, data_dir, settings, say, for_cli=command is not None
    )
    with run_log(runs_path, "modcore reproduce runs", ours, theirs, say) as log:
        runs = log.rows
        done = {(r["dataset"], r["condition"], r["seed"]) for r in runs}

        jobs = _trainings(available, seeds, done)
        n_todo = sum(len(conds) for conds in jobs.values())
        total = len(available) * len(CONDITIONS) * seeds
        say(
            f"{total - n_todo} of {total} runs already in {runs_path}; {n_todo} to do "
            f"({len(jobs)} trainings)",
            flush=True,
        )
        new = 0

        def emit(row):
            nonlocal new
            log.append(row)
            runs.append(row)
            new += 1
            _say_run(say, row, total - n_todo + new, total)
            if max_runs is not None and new >= max_runs:
                raise _EnoughRuns

        try:
            for (name, dropout, seed), conds in jobs.items():
                say(
                    f"{name}, dropout {dropout}, seed {seed}: "
                    f"{' and '.join(repr(c) for c in conds)} ...",
                    flush=True,
                )
                _runs(
                    available[name],
                    dropout,
                    seed,
                    conds,
                    settings,
                    out,
                    n_jobs,
                    device,
                    None if show_epochs else say,
                    show_epochs,
                    emit,
                )
        except _EnoughRuns:
            if new < n_todo:
                say(f"stopping after {new} new runs (max_runs)", flush=True)
        except KeyboardInterrupt:
            say(
                f"\ninterrupted: {len(runs)} finished runs are in {runs_path}, and the "
                f"trainings' states (after their last whole epoch) in {out / 'training'}; "
                "the same command resumes",
                flush=True,
            )
            raise

    wanted = [r for r in runs if r["dataset"] in available and r["seed"] < seeds]
    table, figure = write_tables(out, wanted, seeds=seeds, say=say)
    import torch

    versions = {
        "modcore": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "numpy": np.__version__,
    }
    if "matplotlib" in sys.modules:
        versions["matplotlib"] = sys.modules["matplotlib"].__version__
    summary = {
        "command": command,
        "arguments": {
            "datasets": datasets,
            "seeds": seeds,
            "quick": quick,
            "data_dir": None if data_dir is None else str(data_dir),
            "n_jobs": n_jobs,
            "max_runs": max_runs,
            "device": str(device),
            **settings,
            "rules": rules_made(settings),
        },
        "versions": versions,
        "training": _TRAINING[arch],
        "rules": {rule: what for rule, (what, _) in RULES.items()},
        "datasets": {name: available[name].source for name in available},
        "skipped": skipped,
        "runs": len(wanted),
        "complete": len(wanted) == total,
        "new_runs": new,
        "seconds_this_invocation": time.perf_counter() - started,
        "seconds_all_runs": _seconds(wanted),
        "files": {"runs": "runs.jsonl", "table": ["table.csv", "table.md"], "figure": figure},
        "table": json.loads(table.to_json(orient="records")),
    }
    with atomic_write(out / "summary.json") as f:
        f.write(json.dumps(summary, indent=1))
    say(f"summary written to {out / 'summary.json'}")
    return table


_TRAINING = {
    "mlp": (
        "modcore.nn.paper_recipe, `epochs` plain (the unpruned network, saved there) then "
        "`epochs` pruned to 90 % sparsity from it (the pruned network); Adam 1e-3, batch 128, "
        "dropout 0.5 after each hidden layer"
    ),
    "cnn": (
        "modcore.nn.CNN (3 conv 3x3 'same' of 64 channels, 2x2 max-pooling after the 2nd "
        "and 3rd, dense 128, dense 10); modcore.nn.paper_recipe, `epochs` plain (the "
        "unpruned network) then `epochs` pruned to 90 % sparsity (the pruned network); Adam "
        "1e-3, batch 64, dropout 0.25 after each conv block and 0.5 after the dense layer; "
        "graph: the conv layers' output channels"
    ),
}


# --- one run -------------------------------------------------------------------------


def available_datasets(datasets, data_dir, settings, say, *, for_cli=False) -> tuple:
    """``({name: Dataset}, {name: why skipped})``; a ValueError when none is there. The
    reasons name the command's ``--data-dir`` when ``for_cli``, else ``data_dir=``."""
    available, skipped = {}, {}
    for name in datasets:
        try:
            available[name] = _load(name, data_dir, settings)
        except FileNotFoundError as exc:
            why = getattr(exc, "cli_message", None) if for_cli else None
            skipped[name] = " ".join((why or str(exc)).split())
            say(f"skipping {name}: {skipped[name]}", flush=True)
    if not available:
        raise ValueError(
            "none of the data sets is available: "
            + "; ".join(f"{k}: {v}" for k, v in skipped.items())
        )
    return available, skipped


def _load(name, data_dir, settings):
    from .nn import load_dataset

    return load_dataset(
        name,
        data_dir=data_dir,
        seed=0,
        n_train=settings["n_train"],
        n_test=settings["n_test"],
        flatten=settings["arch"] == "mlp",
    )


def _trainings(available, seeds, done) -> dict:
    """``{(data set, dropout rate, seed): [conditions still to do]}``, in table order: one
    training serves the pruned and the unpruned condition of a dropout rate and seed."""
    jobs: dict = {}
    dropouts = list(dict.fromkeys(rate for _, rate in CONDITIONS.values()))
    for name in available:
        for dropout in dropouts:
            for seed in range(seeds):
                for cond, (_, rate) in CONDITIONS.items():
                    if rate == dropout and (name, cond, seed) not in done:
                        jobs.setdefault((name, dropout, seed), []).append(cond)
    return jobs


def _train_model(
    model, data, *, epochs, seed, prune, show, state=None, on_trained=None, on_epoch=None
) -> dict:
    """Train ``model`` in place as the authors did: ``epochs`` plain, then, if ``prune``,
    ``epochs`` of pruning from there. ``{pruned: (model, history)}`` for the unpruned
    network (a copy taken after the plain phase, absent when the training resumed in its
    pruning phase) and, if ``prune``, the pruned one. ``state``: the training's state
    file (resumed from if it exists); ``on_trained(model, history)`` is called after the
    plain phase of a pruned training. Its own function so tests can count trainings."""
    from .nn import CNN, RECIPES, paper_recipe, train

    if not prune:  # the plain phase alone: paper_recipe's first call of train
        batch = RECIPES["cnn" if isinstance(model, CNN) else "mlp"]["batch_size"]
        history = train(
            model,
            data,
            epochs=epochs,
            batch_size=batch,
            seed=seed,
            progress=show,
            state=state,
            on_epoch=on_epoch,
        )
        return {False: (model, history)}
    stages = {}

    def keep_unpruned(trained, history):
        stages[False] = (copy.deepcopy(trained), copy.deepcopy(history))
        if on_trained is not None:
            on_trained(trained, history)

    history = paper_recipe(
        model,
        data,
        epochs=epochs,
        prune_epochs=epochs,
        seed=seed,
        progress=show,
        on_trained=keep_unpruned,
        state=state,
        on_epoch=on_epoch,
    )
    stages[True] = (model, history)
    return stages


def _model(data, settings, dropout, seed):
    """The untrained network of a run: the paper's MLP or CNN."""
    from .nn import CNN, MLP

    if settings["arch"] == "mlp":
        widths = [data.n_features, *settings["hidden"], data.n_classes]
        return MLP(widths, dropout=dropout, seed=seed)
    rate = 0.25 if dropout else 0.0
    return CNN(
        data.input_shape,
        n_classes=data.n_classes,
        conv_dropout=rate,
        dense_dropout=dropout,
        seed=seed,
    )


def _network(model):
    """The graph that is clustered: an MLP's chain, a CNN's conv channels."""
    from .network import Network, as_network
    from .nn import CNN

    if not isinstance(model, CNN):
        return as_network(model)
    return Network.from_torch(model, input_shape=tuple(model.input_shape), preset="paper_cnn")


class _EnoughRuns(Exception):
    """``max_runs`` new runs are written: stop (a training stopped so keeps its state)."""


def checkpoint_path(out, data_name, condition, seed) -> Path:
    """Where the network of a run is saved (also read by the lesion reproduction)."""
    return Path(out) / "checkpoints" / f"{data_name}_{condition.replace(', ', '_')}_seed{seed}.pt"


def state_path(out, data_name, dropout, seed, *, prune) -> Path:
    """The state file of the training of a data set, dropout rate and seed, between epochs
    (one training of both phases, or of the plain phase alone when only it is wanted)."""
    tag = "dropout" if dropout else "no-dropout"
    phases = "" if prune else "_plain"
    return Path(out) / "training" / f"{data_name}_{tag}_seed{seed}{phases}.pt"


def _runs(data, dropout, seed, conditions, settings, out, n_jobs, device, say, show, emit):
    """The rows of ``conditions`` (of one dropout rate), each passed to ``emit`` as soon as
    its network is saved: from the checkpoints already there, else from one training
    (resumed from its state file), which saves them. ``say``: epoch lines, or None."""
    from .nn import checkpoint

    todo = []
    for condition in conditions:
        path = checkpoint_path(out, data.name, condition, seed)
        # Trained before (each file is saved whole or not at all): the run's own float32
        # checkpoint, else the float16 one of a committed record.
        saved = next((p for p in (path, path.with_suffix(".safetensors")) if p.exists()), None)
        if saved is not None:
            emit(_analyse(saved, data, condition, seed, settings, n_jobs))
        else:
            todo.append(condition)
    if not todo:
        return
    (unpruned,) = [c for c, (p, rate) in CONDITIONS.items() if not p and rate == dropout]
    (pruned,) = [c for c, (p, rate) in CONDITIONS.items() if p and rate == dropout]
    prune = pruned in todo
    state = state_path(out, data.name, dropout, seed, prune=prune)
    state.parent.mkdir(parents=True, exist_ok=True)
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)

    def finished(model, history, condition, *, last=False):
        path = checkpoint_path(out, data.name, condition, seed)
        meta = checkpoint_meta(data, condition, seed, settings, history)
        checkpoint.save(model, path, {**meta, "device": str(device)})
        if last:  # the training's networks are saved: its state is no longer needed
            state.unlink(missing_ok=True)
        if condition in todo:
            emit(_analyse(path, data, condition, seed, settings, n_jobs))

    def epoch_line(history):
        if say is None:
            return
        total = settings["epochs"] * (2 if prune else 1)
        say(
            f"  {data.name}, dropout {dropout}, seed {seed}: epoch {len(history.loss)}/{total}: "
            f"loss {history.loss[-1]:.4f}, batch acc {history.train_accuracy[-1]:.4f}, test "
            f"acc {history.test_accuracy[-1]:.4f}, sparsity {history.sparsity[-1]:.3f}, "
            f"{history.seconds[-1]:.0f} s; state in {state}",
            flush=True,
        )

    stages = _train_model(
        _model(data, settings, dropout, seed).to(device),
        data,
        epochs=settings["epochs"],
        seed=seed,
        prune=prune,
        show=show,
        state=state,
        on_trained=lambda model, history: finished(model, history, unpruned),
        on_epoch=epoch_line,
    )
    model, history = stages[True] if prune else stages[False]
    finished(model, history, pruned if prune else unpruned, last=True)


def _analyse(path, data, condition, seed, settings, n_jobs) -> dict:
    """The row of ``runs.jsonl`` of the run whose network is the checkpoint ``path`` (a
    ``.pt``, or the ``.safetensors`` of a record): its n-cut, nulls, z and p under each
    label rule of :data:`RULES`, and its training record."""
    from .cluster import spectral_cluster
    from .nn import checkpoint, record
    from .significance import ncut_significance

    saved = record.load(path) if path.suffix == ".safetensors" else checkpoint.load(path)
    meta = saved.metadata
    made = {k: meta.get(k) for k in ("arch", "epochs", "data_source", "condition", "seed")}
    wanted = {
        "arch": settings["arch"],
        "epochs": settings["epochs"],
        "data_source": data.source,
        "condition": condition,
        "seed": seed,
    }
    if made != wanted:
        raise ValueError(
            f"{path} was trained with other settings ({_describe(made)}; now "
            f"{_describe(wanted)}): use another --out"
        )
    history = meta["history"]
    pruned, dropout = CONDITIONS[condition]
    t0 = time.perf_counter()
    network = _network(saved.model)
    random_init = _network(type(saved.model)(**saved.config, seed=seed))
    row = {
        "dataset": data.name,
        "condition": condition,
        "seed": seed,
        "pruned": pruned,
        "dropout": dropout,
        **settings,
        "rules": rules_made(settings),
        "unpruned_from": UNPRUNED_FROM,
        "trained_epochs": meta["trained_epochs"],
        "test_accuracy": meta["test_accuracy"],
        "train_accuracy": meta["train_accuracy"],
        "sparsity": history["sparsity"][-1],
        "device": meta.get("device", "cpu"),
    }
    for rule in RULES:
        solver = _solver(settings, rule)
        for null in NULLS:
            sig = ncut_significance(
                network,
                n_shuffles=settings["n_shuffles"],
                shuffle=null,
                seed=seed,
                n_jobs=n_jobs,
                progress=False,
                **solver,
            )
            row.update(
                {
                    f"{rule}_{null}_mean": sig.shuffled_mean,
                    f"{rule}_{null}_std": sig.shuffled_std,
                    f"{rule}_{null}_z": sig.z_score,
                    f"{rule}_{null}_p": sig.p_value,
                    f"{rule}_{null}_ncuts": [float(v) for v in sig.shuffled_ncuts],
                }
            )
        # The same clustering (same network, seed and rule) under both nulls.
        row[f"{rule}_ncut"] = sig.ncut
        row[f"{rule}_random_init_ncut"] = spectral_cluster(
            random_init, seed=seed, n_jobs=n_jobs, **solver
        ).ncut
    # What the drop rule left out, and what "unreachable" would (see modcore.Clustering).
    for count in ("n_dropped", "n_isolated", "n_unreachable", "n_floating"):
        row[count] = getattr(sig.clustering, count)
    # Of the training that made it (summed over the epochs of every session it took).
    row["seconds_train"] = float(sum(history["seconds"]))
    row["seconds_analysis"] = time.perf_counter() - t0
    row["checkpoint"] = str(path.relative_to(path.parent.parent))
    row["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    return row


def checkpoint_meta(data, condition, seed, settings, history) -> dict:
    """The metadata saved with a reproduction's network (also by the lesion reproduction,
    which reads it back to check a checkpoint was trained with its settings): the run,
    and the training's per-epoch history."""
    pruned, dropout = CONDITIONS[condition]
    return {
        "dataset": data.name,
        "data_source": data.source,
        "condition": condition,
        "seed": seed,
        "arch": settings["arch"],
        "dropout": dropout,
        "sparsity": 0.9 if pruned else 0.0,
        "epochs": settings["epochs"],
        "trained_epochs": len(history.test_accuracy),
        "test_accuracy": history.test_accuracy[-1],
        "train_accuracy": history.train_accuracy[-1],
        "history": history.to_dict(),
    }


def rules_made(settings) -> dict:
    """The label rules a run is clustered by, as recorded in it: name -> settings."""
    return {rule: _solver(settings, rule) for rule in RULES}


def _rule_before(run) -> dict:
    """What a run written before both rules were kept was clustered by: its one rule."""
    keys = [f.name for f in dataclasses.fields(ClusterSettings)]
    return {"one rule": {k: run.get(k, _SETTINGS_BEFORE.get(k)) for k in keys}}


def check_device(device):
    """``device`` as a ``torch.device`` where training can run: the CPU, or a CUDA device
    torch sees."""
    import torch

    try:
        checked = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}") from exc
    if checked.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    if checked.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r}: torch sees no CUDA device here")
        if checked.index is not None and checked.index >= torch.cuda.device_count():
            raise ValueError(
                f"device {device!r}: torch sees {torch.cuda.device_count()} CUDA device(s)"
            )
    return checked


def write_tables(out, runs, *, seeds, say) -> tuple:
    """Write ``table.csv``, ``table.md`` (saying whether it holds ``seeds`` seeds per
    condition) and ``ncut.png`` (if matplotlib is there) of ``runs`` into ``out``:
    ``(table, figure file name or None)``."""
    table = aggregate(runs)
    with atomic_write(out / "table.csv", newline="") as f:
        table.to_csv(f, index=False)
    with atomic_write(out / "table.md") as f:
        f.write(to_markdown(table, seeds=seeds) + "\n")
    say(f"table written to {out / 'table.csv'} and {out / 'table.md'}")
    try:
        from .reproduce_plot import ncut_figure

        fig = ncut_figure(runs)
    except ImportError:
        say("matplotlib is not installed: no figure (pip install 'modcore[plot]')")
        return table, None
    with atomic_write(out / "ncut.png", "wb") as f:
        fig.savefig(f, format="png", dpi=120)
    say(f"figure written to {out / 'ncut.png'}")
    return table, "ncut.png"


def _seconds(runs) -> float:
    """Training and analysis time of ``runs``, each training counted once (a pruned run and
    the unpruned run of the same seed share theirs)."""
    trainings: dict = {}
    for r in runs:
        key = (r["dataset"], r["dropout"], r["seed"])
        trainings[key] = max(trainings.get(key, 0.0), r["seconds_train"])
    return sum(trainings.values()) + sum(r["seconds_analysis"] for r in runs)


def _say_run(say, row, index, total) -> None:
    rules = "; ".join(
        f"{rule}: n-cut {row[rule + '_ncut']:.3f} ("
        + ", ".join(f"{n} z {row[f'{rule}_{n}_z']:.2f} p {row[f'{rule}_{n}_p']:.3f}" for n in NULLS)
        + f"), random init {row[rule + '_random_init_ncut']:.3f}"
        for rule in RULES
    )
    say(
        f"[{index}/{total}] {row['dataset']}, {row['condition']}, seed {row['seed']}: test acc "
        f"{row['test_accuracy']:.4f}; {rules}; {row['seconds_train']:.0f} s training, "
        f"{row['seconds_analysis']:.0f} s analysis",
        flush=True,
    )


def _solver(settings: dict, rule: str) -> dict:
    """The clustering settings of ``rule`` (every field of cluster.ClusterSettings) as
    keywords: a run's numbers come from the settings it records."""
    shared = {f.name: settings.get(f.name) for f in dataclasses.fields(ClusterSettings)}
    return {**shared, **RULES[rule][1]}


# --- the results file ------------------------------------------------------------------


def run_options(seeds, quick, quick_values, max_runs, n_jobs, progress) -> tuple:
    """``(seeds, max_runs, n_jobs, say)`` of a reproduction, checked before any training."""
    seeds = check_positive_int(
        seeds if seeds is not None else (quick_values["seeds"] if quick else 5), "seeds"
    )
    if max_runs is not None:
        max_runs = check_positive_int(max_runs, "max_runs")
    if n_jobs is not None:
        n_jobs = check_n_jobs(n_jobs)
    say = print if progress else (lambda *a, **k: None)
    return seeds, max_runs, n_jobs, say


@contextmanager
def run_log(path, what, ours, theirs, say, *, schema=_SCHEMA):
    """The :class:`~modcore.files.ResultLog` of a reproduction, open, every row in it
    checked by ``schema`` (default: a reproduce run's) and to be made with the settings
    ``ours`` (``theirs(row)`` are a row's): runs made with other settings are refused,
    never mixed in."""
    with ResultLog(
        path,
        schema,
        what=what,
        on_wait=lambda p: say(
            f"another process is writing {p}; waiting for it to finish", flush=True
        ),
    ) as log:
        for run in log.rows:
            made = theirs(run)
            if made != ours:
                raise ValueError(
                    f"{path} holds {what} made with other settings ({_describe(made)}; now "
                    f"{_describe(ours)}): use another --out, or delete it to start over"
                )
        yield log


def read_runs(path) -> list:
    """The runs in a ``runs.jsonl`` (none if it does not exist).

    Parameters
    ----------
    path : str or path-like
        A ``runs.jsonl`` written by :func:`reproduce`.

    Returns
    -------
    list of dict
        One dict per finished run, in file order.

    Raises
    ------
    ValueError
        If a line is not a run. A run being written at this moment (or cut short
        by a crash) is left out; the file is only read, never waited for: see
        :meth:`modcore.files.ResultLog.snapshot`.
    """
    return ResultLog(path, _SCHEMA, what="modcore reproduce runs").snapshot()


# --- the table ---------------------------------------------------------------------------

#: (column stem, run field): mean and std over seeds of each; per label rule, then the
#: test accuracy (the same under both rules).
_MEASURES = [
    (f"{rule}_{stem}", f"{rule}_{key}")
    for rule in RULES
    for stem, key in [("ncut", "ncut")]
    + [
        (f"{null}_{what}", f"{null}_{key}")
        for null in NULLS
        for what, key in (("shuffled_mean", "mean"), ("shuffled_std", "std"), ("z", "z"))
    ]
    + [("random_init_ncut", "random_init_ncut")]
] + [("test_accuracy", "test_accuracy")]


def table_columns() -> list:
    """The columns of ``table.csv``."""
    cols = ["dataset", "condition", "seeds"]
    for stem, _ in _MEASURES:
        cols += [f"{stem}_mean", f"{stem}_std"]
        if stem.endswith("_z"):
            cols.append(stem[:-2] + "_significant")
    return cols


def aggregate(runs) -> pandas.DataFrame:
    """One row per data set and condition: mean and std (ddof 1) over seeds, and per rule
    and null the share of seeds with p < 0.05 (``<rule>_<null>_significant``). A rule a
    run was not clustered by (runs written when one rule was kept) is NaN."""
    import pandas as pd

    runs = [_by_rule(r) for r in runs]
    rows = []
    names = list(dict.fromkeys(r["dataset"] for r in runs))
    for name in names:
        for cond in CONDITIONS:
            group = [r for r in runs if r["dataset"] == name and r["condition"] == cond]
            if not group:
                continue
            row = {"dataset": name, "condition": cond, "seeds": len(group)}
            for stem, key in _MEASURES:
                values = np.array([r.get(key, math.nan) for r in group], dtype=float)
                row[f"{stem}_mean"] = float(values.mean())
                row[f"{stem}_std"] = float(values.std(ddof=1)) if len(values) > 1 else math.nan
                if stem.endswith("_z"):
                    p = np.array([r.get(f"{stem[:-2]}_p", math.nan) for r in group], float)
                    row[f"{stem[:-2]}_significant"] = (
                        float(np.mean(p < 0.05)) if not np.isnan(p).any() else math.nan
                    )
            rows.append(row)
    return pd.DataFrame(rows, columns=table_columns())


def _by_rule(run: dict) -> dict:
    """``run`` with its measures named by label rule. Runs written when one rule was kept
    (``results/`` of 2026-11: cluster_qr refined, the default rule) have unprefixed
    ``ncut``, ``<null>_z``, ...: they are named by the rule they record."""
    if "ncut" not in run:
        return run
    if (run.get("assign_labels"), run.get("refine")) != ("cluster_qr", True):
        raise ValueError(
            f"a run of {run['dataset']}, {run['condition']}, seed {run['seed']} was clustered "
            f"by assign_labels={run.get('assign_labels')}, refine={run.get('refine')}, which "
            "is not one of the reproduction's label rules"
        )
    rule = "modcore"
    named = dict(run)
    for key in ("ncut", "random_init_ncut") + tuple(
        f"{null}_{what}" for null in NULLS for what in ("mean", "std", "z", "p", "ncuts")
    ):
        named[f"{rule}_{key}"] = named.pop(key)
    return named


def to_markdown(table, *, seeds=None) -> str:
    """The table as Markdown, ``mean ± std`` over seeds: one table per label rule, each
    under a heading naming it (``#### authors: ...``). With ``seeds`` (the seeds asked
    for), a table that holds fewer says so, with the seeds each condition holds."""

    def pm(row, stem, digits):
        mean, std = row[f"{stem}_mean"], row[f"{stem}_std"]
        if math.isnan(mean):
            return "not computed"
        text = f"{mean:.{digits}f}"
        return text if math.isnan(std) else f"{text} ± {std:.{digits}f}"

    parts = []
    held = {(r["dataset"], r["condition"]): int(r["seeds"]) for _, r in table.iterrows()}
    names = list(dict.fromkeys(table["dataset"]))
    if seeds is not None and (
        not names or any(held.get((n, c), 0) < seeds for n in names for c in CONDITIONS)
    ):
        counts = "; ".join(
            f"{n}: " + ", ".join(f"{c} {held.get((n, c), 0)}" for c in CONDITIONS) for n in names
        )
        parts.append(
            f"Partial: {seeds} seeds per condition asked for; seeds held: {counts or 'none'}."
        )
    for rule, (what, _) in RULES.items():
        head = ["data set", "condition", "seeds", "test acc.", "n-cut", "random init n-cut"]
        for null in NULLS:
            head += [
                f"{null}: shuffled mean",
                f"{null}: shuffled std",
                f"{null}: z",
                f"{null}: p < 0.05",
            ]
        lines = [
            f"#### {rule}: {what}",
            "| " + " | ".join(head) + " |",
            "|" + "---|" * len(head),
        ]
        for _, row in table.iterrows():
            cells = [
                row["dataset"],
                row["condition"],
                str(row["seeds"]),
                pm(row, "test_accuracy", 4),
                pm(row, f"{rule}_ncut", 3),
                pm(row, f"{rule}_random_init_ncut", 3),
            ]
            for null in NULLS:
                share = row[f"{rule}_{null}_significant"]
                cells += [
                    pm(row, f"{rule}_{null}_shuffled_mean", 3),
                    pm(row, f"{rule}_{null}_shuffled_std", 3),
                    pm(row, f"{rule}_{null}_z", 2),
                    "not computed"
                    if math.isnan(share)
                    else f"{round(share * row['seeds'])}/{row['seeds']}",
                ]
            lines.append("| " + " | ".join(cells) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def _describe(settings: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in settings.items())
