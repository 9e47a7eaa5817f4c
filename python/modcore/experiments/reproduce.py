"""Reproduce Filan et al.'s findings in one call: ``modcore reproduce``.

For each data set that is available, each seed and each condition (by default the
2020 paper's four, {pruned 90 %, unpruned} x {dropout, none}; ``conditions`` names
other trainings: clusterable init, L1, L2, the spectral regularizer, the partition
loss, each pruned and unpruned, see :data:`~modcore.experiments.conditions.TRAININGS`),
train the paper's network, cluster it (k = 12), test it against the "layer" and
"layer_nonzero" shuffle nulls and cluster the same network as initialised
(untrained). ``arch="mlp"`` is the 2020 paper's MLP (dropout 0.5 after each hidden
layer); ``arch="cnn"`` the 2021 paper's small CNN (:class:`modcore.nn.CNN`; dropout
0.25 after each conv block and 0.5 after the dense layer), whose graph is its conv
channels only, as the 2021 paper clustered it (the tracer's ``preset="paper_cnn"``).

Training products and analysis are kept apart. A training saves its state after
every epoch in ``<out>/training/`` (:mod:`modcore.nn.train_state`) and resumes from
it, bit for bit; each network is saved in ``<out>/checkpoints/`` as soon as it exists
(the unpruned one when the plain phase ends). Each run's row of ``<out>/runs.jsonl``
is computed from its checkpoint, under both label rules of :data:`RULES` (the
authors' k-means rule and modcore's default), and appended at once. Runs already in
the file are skipped, so a stopped reproduction resumes where it was; a run whose
checkpoint is there (``.pt``, or a record's ``.safetensors``, see
:mod:`modcore.experiments.record`) but whose row is not is analysed without training:
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

import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..common.files import write_json
from ..method.null import MAX_SHUFFLES
from ..method.settings import takes_settings
from ..network.checks import check_positive_int
from ..report.page import versions
from .conditions import (
    _SETTINGS_BEFORE,
    _UNPRUNED_BEFORE,
    ARCHS,
    DEFAULT_DATASETS,
    DEFAULT_EPOCHS,
    DEFAULT_TRAININGS,
    HIDDEN,
    QUICK,
    RULES,
    SETTINGS,
    TRAININGS,
    UNPRUNED_FROM,
    conditions_of,
    run_datasets,
    training_of,
)
from .runlog import run_log, run_options
from .runs import (
    _EnoughRuns,
    _rule_before,
    _runs,
    _say_run,
    _trainings,
    available_datasets,
    check_device,
    rules_made,
)
from .tables import write_tables

if TYPE_CHECKING:
    pass

__all__ = ["reproduce"]


@takes_settings
def reproduce(
    datasets=None,
    *,
    settings=None,
    arch="mlp",
    conditions=None,
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

    Every run is clustered by both label rules of :data:`RULES`: the authors' (k-means,
    lowest inertia, no refinement; ``n_init`` restarts, 25 by default here) and
    modcore's default (cluster_qr refined by n-cut moves). The rules set
    ``assign_labels``, ``refine`` and ``select_by``: those fields of ``settings`` are
    not read. Runs made before ``drop`` and ``normalize`` existed used their defaults.

    Parameters
    ----------
    datasets : sequence of str, optional
        Data sets to try, in order; absent ones are skipped with a printed reason.
        Default: fashion, line, mnist, cifar10 (with ``quick``: line).
    arch : {"mlp", "cnn"}, default="mlp"
        The 2020 paper's MLP or the 2021 paper's CNN (see the module's docstring).
    conditions : sequence of str, optional
        The trainings to run, names of :data:`~modcore.experiments.conditions.TRAININGS`
        (``"dropout"``, ``"plain"``, ``"clusterable-init"``, ``"l1"``, ``"l2"``,
        ``"spectral"``, ``"partition"``), each giving an unpruned and a pruned
        condition (``"unpruned, l1"``, ``"pruned, l1"``; the plain training's are
        ``"unpruned"`` and ``"pruned"``). Default: ``("dropout", "plain")``, the 2020
        paper's four conditions. Runs of other trainings in ``out`` are kept and left
        out of the table.
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
    CLUSTER_SETTINGS_FIELDS
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
        that are not runs. ``runs.jsonl`` is a :class:`modcore.common.result_log.ResultLog`:
        a second reproduction on the same ``out`` waits until the first is done,
        then skips the runs it finished.
    KeyboardInterrupt
        On Ctrl-C; the runs finished so far stay in ``runs.jsonl``, the networks
        in ``checkpoints/``, each training's state after its last whole epoch in
        ``training/``.
    """
    started = time.perf_counter()
    datasets = run_datasets(datasets, quick, QUICK, DEFAULT_DATASETS)
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {ARCHS}, got {arch!r}")
    if isinstance(conditions, str):
        raise TypeError(f"conditions must be a sequence of training names, got {conditions!r}")
    trainings = list(dict.fromkeys(DEFAULT_TRAININGS if conditions is None else conditions))
    asked = conditions_of(trainings)
    # Checked once per rule; the settings the rules share are recorded once.
    solver = {rule: settings.replace(**labels) for rule, (_, labels) in RULES.items()}["authors"]
    device = check_device(device)
    run_settings = {
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
    _check_planted(trainings, run_settings["hidden"])
    seeds, max_runs, n_jobs, say = run_options(seeds, quick, QUICK, max_runs, n_jobs, progress)
    # Per-epoch bars only on a terminal: in a log file they would bury the per-run lines.
    show_epochs = bool(progress) and sys.stderr.isatty()
    out = Path(out)
    runs_path = out / "runs.jsonl"
    ours = {**run_settings, "rules": rules_made(run_settings), "unpruned_from": UNPRUNED_FROM}

    def theirs(run):
        made = {k: run.get(k, _SETTINGS_BEFORE.get(k)) for k in SETTINGS}
        return {
            **made,
            "rules": run.get("rules", _rule_before(run)),
            "unpruned_from": run.get("unpruned_from", _UNPRUNED_BEFORE),
        }

    # Before the log is opened, so that a run with no data set creates nothing.
    available, skipped = available_datasets(
        datasets, data_dir, run_settings, say, for_cli=command is not None
    )
    with run_log(runs_path, "modcore reproduce runs", ours, theirs, say) as log:
        runs = log.rows
        _check_trainings(runs, runs_path)
        done = {(r["dataset"], r["condition"], r["seed"]) for r in runs}

        jobs = _trainings(available, seeds, done, asked)
        n_todo = sum(len(conds) for conds in jobs.values())
        total = len(available) * len(asked) * seeds
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
            for (name, training, seed), conds in jobs.items():
                say(
                    f"{name}, {training}, seed {seed}: {' and '.join(repr(c) for c in conds)} ...",
                    flush=True,
                )
                _runs(
                    available[name],
                    training,
                    seed,
                    conds,
                    run_settings,
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

    wanted = [
        r
        for r in runs
        if r["dataset"] in available and r["seed"] < seeds and r["condition"] in asked
    ]
    table, figure = write_tables(out, wanted, seeds=seeds, say=say, conditions=list(asked))
    summary = {
        "command": command,
        "arguments": {
            "datasets": datasets,
            "conditions": trainings,
            "seeds": seeds,
            "quick": quick,
            "data_dir": None if data_dir is None else str(data_dir),
            "n_jobs": n_jobs,
            "max_runs": max_runs,
            "device": str(device),
            **run_settings,
            "rules": rules_made(run_settings),
        },
        "versions": versions(),  # torch among them: check_device imported it
        "training": _TRAINING[arch],
        "trainings": {t: TRAININGS[t] for t in trainings},
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
    write_json(out / "summary.json", summary)
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


def _seconds(runs) -> float:
    """Training and analysis time of ``runs``, each training counted once (a pruned run and
    the unpruned run of the same seed share theirs)."""
    trainings: dict = {}
    for r in runs:
        key = (r["dataset"], training_of(r), r["seed"])
        trainings[key] = max(trainings.get(key, 0.0), r["seconds_train"])
    return sum(trainings.values()) + sum(r["seconds_analysis"] for r in runs)


def _check_planted(trainings, hidden) -> None:
    """A clusterable initialization's modules must fit every hidden layer of the MLP:
    refused here, before any data loads, rather than at its first run."""
    modules = max((TRAININGS[t].get("clusterable_init") or 0 for t in trainings), default=0)
    if modules and hidden is not None:
        from ..nn.clusterable_init import check_n_modules

        if not hidden:
            raise ValueError("the clusterable-init condition needs a hidden layer (hidden=[])")
        try:
            check_n_modules(modules, hidden)
        except ValueError as exc:
            raise ValueError(f"the clusterable-init condition: {exc} (hidden={hidden})") from None


def _check_trainings(runs, path) -> None:
    """Refuse runs whose training (penalties, regularizers, initialisation) is not the
    one :data:`TRAININGS` defines now for their condition: made with other values, they
    are not mixed in. Runs written before trainings were recorded are the paper's."""
    for r in runs:
        name = training_of(r)
        made = r.get("training", TRAININGS[name])
        if made != TRAININGS[name]:
            raise ValueError(
                f"{path} holds a run of {r['dataset']}, {r['condition']}, seed {r['seed']} "
                f"trained with {made}, and the {name!r} training is now {TRAININGS[name]}: "
                "use another --out"
            )


# --- the results file ------------------------------------------------------------------


# --- the table ---------------------------------------------------------------------------
