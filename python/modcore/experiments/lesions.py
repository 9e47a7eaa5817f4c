"""Reproduce Filan et al.'s lesion tests: ``modcore reproduce --lesions``.

For each data set (default Fashion-MNIST), seed and pruned condition ("pruned,
dropout" and "pruned"), take the network of ``modcore reproduce`` (the paper's
MLP, the same recipe and seed: its checkpoint in ``<out>/checkpoints/`` is used
when it is there, else the network is trained and saved there under the same
name), and run :func:`modcore.nn.lesion.lesion_study` on its test set with the
paper's settings: k = 12, the paper's importance rule, 100 random lesions per
sub-module, double lesions of the pairs of important sub-modules. Each
finished network appends one line to ``<out>/lesions/runs.jsonl`` and writes
its whole study to ``<out>/lesions/studies/<network>.json`` (and the figures of
seed 0 to ``<out>/lesions/figures/``); networks already in the file are
skipped, so a stopped run resumes. At the end the runs are aggregated into
``<out>/lesions/table.md`` and ``summary.json``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..common.files import atomic_write, write_json
from ..common.result_log import ResultLog
from ..common.version import __version__
from ..network.checks import check_positive_int
from .conditions import ARCHS, HIDDEN, run_datasets
from .run_rows import lesion_schema
from .runlog import run_log, run_options
from .runs import _model, _train_model, available_datasets, checkpoint_meta

__all__ = ["LESION_CONDITIONS", "reproduce_lesions", "aggregate_lesions", "read_lesion_runs"]

#: name -> dropout rate of the pruned networks lesioned (the paper's lesion study).
LESION_CONDITIONS = {"pruned, dropout": 0.5, "pruned": 0.0}
DEFAULT_DATASETS = ("fashion",)
QUICK: dict[str, Any] = {
    "n_train": 1000,
    "n_test": 500,
    "epochs": 1,
    "n_random": 10,
    "seeds": 1,
    "datasets": ("line",),
}
# Settings a run depends on: a results file made with others is not mixed in.
_SETTINGS = (
    "arch",
    "epochs",
    "n_random",
    "n_clusters",
    "n_init",
    "n_train",
    "n_test",
    "hidden",
    "rule",
)
_TYPES = ("I", "II", "III", "IV")
_SCHEMA = lesion_schema(LESION_CONDITIONS, ARCHS)


def reproduce_lesions(
    datasets=None,
    seeds=None,
    epochs=None,
    out="results",
    quick=False,
    n_clusters=12,
    n_random=None,
    n_init=10,
    n_train=None,
    n_test=None,
    hidden=HIDDEN,
    data_dir=None,
    n_jobs=None,
    max_runs=None,
    progress=True,
    command=None,
) -> str:
    """Run (or resume) the lesion reproduction; return its Markdown table.

    Parameters
    ----------
    datasets : sequence of str, optional
        Data sets to try, in order; absent ones are skipped with a printed reason
        (default: fashion; with ``quick``: line).
    seeds : int, optional
        Networks per data set and condition, seeds 0 .. seeds-1 (default 5; quick: 1).
    epochs : int, optional
        Epochs per phase of the paper's recipe (default 20; quick: 1).
    out : str or path-like, default "results"
        The reproduction's directory: checkpoints are read from and written to
        ``out/checkpoints``, the lesion results go to ``out/lesions``.
    quick : bool, default False
        Tiny data (1000 training, 500 test examples) and the quick defaults above.
    n_clusters, n_init : int
        Clustering parameters (default 12 and 10).
    n_random : int, optional
        Random lesions per sub-module (default 100, as the paper; quick: 10).
    n_train, n_test : int, optional
        Use a subset of the data (default: all; quick: 1000 / 500).
    hidden : sequence of int, default (256, 256, 256, 256)
        Hidden widths of the MLP.
    data_dir : path-like, optional
        Passed to :func:`modcore.nn.load_dataset`.
    n_jobs : int, optional
        Threads of the clustering (default: all cores).
    max_runs : int, optional
        Stop after this many new networks (the table is still written).
    progress : bool, default True
        A line per network on stdout (and progress bars on stderr when it is a terminal).
    command : str, optional
        The command line, kept in ``summary.json``.

    Returns
    -------
    str
        The Markdown table written to ``table.md``.

    Raises
    ------
    ValueError
        On a bad argument, when no data set is available, when ``runs.jsonl``
        holds runs made with other settings, or when a checkpoint found in
        ``out/checkpoints`` was trained with other settings.
    """
    started = time.perf_counter()
    datasets = run_datasets(datasets, quick, QUICK, DEFAULT_DATASETS)
    settings = {
        "arch": "mlp",
        "epochs": check_positive_int(
            epochs if epochs is not None else (QUICK["epochs"] if quick else 20), "epochs"
        ),
        "n_random": check_positive_int(
            n_random if n_random is not None else (QUICK["n_random"] if quick else 100), "n_random"
        ),
        "n_clusters": check_positive_int(n_clusters, "n_clusters", minimum=2),
        "n_init": check_positive_int(n_init, "n_init"),
        "n_train": n_train if n_train is not None else (QUICK["n_train"] if quick else None),
        "n_test": n_test if n_test is not None else (QUICK["n_test"] if quick else None),
        "hidden": [check_positive_int(h, f"hidden[{i}]") for i, h in enumerate(hidden)],
        "rule": "paper",
    }
    seeds, max_runs, n_jobs, say = run_options(seeds, quick, QUICK, max_runs, n_jobs, progress)
    show = bool(progress) and os.isatty(2)
    out = Path(out)
    home = out / "lesions"
    runs_path = home / "runs.jsonl"
    # Before the log is opened, so that a run with no data set creates nothing.
    available, skipped = available_datasets(
        datasets, data_dir, settings, say, for_cli=command is not None
    )
    with run_log(
        runs_path,
        "modcore lesion runs",
        settings,
        lambda r: {k: r.get(k) for k in _SETTINGS},
        say,
        schema=_SCHEMA,
    ) as log:
        runs = log.rows
        done = {(r["dataset"], r["condition"], r["seed"]) for r in runs}
        todo = [
            (name, cond, seed)
            for name in available
            for cond in LESION_CONDITIONS
            for seed in range(seeds)
            if (name, cond, seed) not in done
        ]
        total = len(available) * len(LESION_CONDITIONS) * seeds
        say(
            f"{total - len(todo)} of {total} lesion runs already in {runs_path}; {len(todo)} to do",
            flush=True,
        )
        for new, (name, cond, seed) in enumerate(todo):
            if max_runs is not None and new >= max_runs:
                say(f"stopping after {new} new runs (max_runs)", flush=True)
                break
            index = total - len(todo) + new + 1
            say(f"[{index}/{total}] {name}, {cond}, seed {seed} ...", flush=True)
            row = _run(available[name], cond, seed, settings, out, n_jobs, show)
            log.append(row)
            runs.append(row)
            say(
                f"[{index}/{total}] {name}, {cond}, seed {seed}: test acc "
                f"{row['base_accuracy']:.4f}, {row['n_important']} of {row['n_sub_modules']} "
                f"sub-modules important (by layer {row['important_by_layer']}), dependency "
                f"types {row['dependency_types']}; {row['seconds_train']:.0f} s training, "
                f"{row['seconds_lesion']:.0f} s lesions",
                flush=True,
            )

    wanted = [r for r in runs if r["dataset"] in available and r["seed"] < seeds]
    table = aggregate_lesions(wanted)
    with atomic_write(home / "table.md") as f:
        f.write(table + "\n")
    summary = {
        "command": command,
        "arguments": {
            "datasets": datasets,
            "seeds": seeds,
            "quick": quick,
            "data_dir": None if data_dir is None else str(data_dir),
            "n_jobs": n_jobs,
            "max_runs": max_runs,
            **settings,
        },
        "modcore": __version__,
        "study": (
            "modcore.nn.lesion.lesion_study(model, test set, n_clusters, random_lesions="
            "n_random, seed=seed, rule='paper', pair_set='important')"
        ),
        "datasets": {name: available[name].source for name in available},
        "skipped": skipped,
        "runs": len(wanted),
        "complete": len(wanted) == total,
        "seconds_this_invocation": time.perf_counter() - started,
        "seconds_all_runs": sum(r["seconds_train"] + r["seconds_lesion"] for r in wanted),
        "files": {
            "runs": "runs.jsonl",
            "table": "table.md",
            "studies": "studies/",
            "figures": "figures/",
        },
    }
    write_json(home / "summary.json", summary)
    say(f"table written to {home / 'table.md'}, summary to {home / 'summary.json'}")
    return table


def _network(data, condition, seed, settings, out, show):
    """The checkpoint of ``modcore reproduce`` for this run, trained and saved if absent."""
    from ..nn import checkpoint

    model = _model(data, settings, "dropout" if LESION_CONDITIONS[condition] else "plain", seed)
    slug = f"{data.name}_{condition.replace(', ', '_')}_seed{seed}"
    path = out / "checkpoints" / f"{slug}.pt"
    if path.exists():
        saved = checkpoint.load(path)
        meta = saved.metadata
        if (
            meta.get("epochs") != settings["epochs"]
            or meta.get("data_source") != data.source
            or saved.config != model.config
        ):
            raise ValueError(
                f"{path} was trained with other settings (epochs "
                f"{meta.get('epochs')}, data {meta.get('data_source')}, model "
                f"{saved.config}): use another --out"
            )
        return saved.model, slug, 0.0, meta.get("test_accuracy")
    t0 = time.perf_counter()
    model, history = _train_model(
        model, data, epochs=settings["epochs"], seed=seed, prune=True, show=show
    )[True]
    seconds = time.perf_counter() - t0
    path.parent.mkdir(parents=True, exist_ok=True)
    # written whole or not at all, as modcore reproduce writes it
    checkpoint.save(model, path, checkpoint_meta(data, condition, seed, settings, history))
    return model, slug, seconds, history.test_accuracy[-1]


def _run(data, condition, seed, settings, out, n_jobs, show) -> dict:
    from ..nn.lesion import lesion_study

    model, slug, seconds_train, test_accuracy = _network(data, condition, seed, settings, out, show)
    t0 = time.perf_counter()
    study = lesion_study(
        model,
        data,
        n_clusters=settings["n_clusters"],
        random_lesions=settings["n_random"],
        seed=seed,
        rule="paper",
        pair_set="important",
        n_init=settings["n_init"],
        n_jobs=n_jobs,
        progress=show,
    )
    seconds_lesion = time.perf_counter() - t0
    home = out / "lesions"
    studies = home / "studies"
    studies.mkdir(parents=True, exist_ok=True)
    write_json(
        studies / f"{slug}.json",
        {"dataset": data.name, "condition": condition, "seed": seed, **study.to_dict()},
    )
    if seed == 0:
        try:
            from ..report.lesion_plot import save_figures

            figures = home / "figures" / slug
            save_figures(study, figures)
        except ImportError:
            pass
    # Every hidden layer of the MLP (groups 1..L), those without a sub-module too, so
    # that the rows of one log line up layer by layer.
    layers = range(1, len(settings["hidden"]) + 1)
    categories: dict[str, int] = {}
    for s in study.single:
        categories[s.category] = categories.get(s.category, 0) + 1
    types = [p.dependency_type for p in study.pairs if p.dependency_type]
    tests = study.network_tests.to_dict()
    del tests["mean_percentiles"], tests["spread_percentiles"]
    return {
        "dataset": data.name,
        "condition": condition,
        "seed": seed,
        **settings,
        "test_accuracy": test_accuracy,
        "base_accuracy": study.base_accuracy,
        "ncut": study.ncut,
        "n_sub_modules": len(study.single),
        "n_important": len(study.important),
        "important_by_layer": [
            sum(s.important for s in study.single if s.layer == layer) for layer in layers
        ],
        "sub_modules_by_layer": [sum(s.layer == layer for s in study.single) for layer in layers],
        "categories": categories,
        "network_tests": tests,
        "n_pairs": len(study.pairs),
        "dependency_types": {t: types.count(t) for t in _TYPES},
        "seconds_train": seconds_train,
        "seconds_lesion": seconds_lesion,
        "seconds_stages": study.seconds,
        "n_masks": study.n_masks,
        "study": str(Path("studies") / f"{slug}.json"),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def read_lesion_runs(path) -> list:
    """The runs in a lesion reproduction's ``runs.jsonl`` (none if it does not exist),
    read as :func:`modcore.experiments.runlog.read_runs` reads a reproduction's.

    Raises
    ------
    ValueError
        If a line is not a lesion run (the message names the file and the line).
    """
    return ResultLog(path, _SCHEMA, what="modcore lesion runs").snapshot()


def aggregate_lesions(runs) -> str:
    """One Markdown row per data set and condition, over its seeds: means ± std, and how
    many networks each network-level test finds significant (p < 0.05)."""
    head = [
        "data set",
        "condition",
        "seeds",
        "test acc.",
        "sub-modules",
        "important (by layer)",
        "mean acc.: chi2 / Fisher p < 0.05",
        "mean effect",
        "spread: chi2 / Fisher p < 0.05",
        "spread effect",
        "important pairs",
        "types I / II / III / IV",
    ]

    def pm(values, digits):
        values = np.array(values, dtype=float)
        text = f"{values.mean():.{digits}f}"
        return text if values.size == 1 else f"{text} ± {values.std(ddof=1):.{digits}f}"

    def significant(group, key):
        return sum(
            r["network_tests"][key] is not None and r["network_tests"][key] < 0.05 for r in group
        )

    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in dict.fromkeys(r["dataset"] for r in runs):
        for cond in LESION_CONDITIONS:
            group = [r for r in runs if r["dataset"] == name and r["condition"] == cond]
            if not group:
                continue
            n = len(group)
            counts = {r["seed"]: len(r["important_by_layer"]) for r in group}
            if len(set(counts.values())) > 1:
                raise ValueError(
                    f"the {name} / {cond} runs count sub-modules over different numbers of "
                    f"layers (seed: layers {counts}): runs of one network shape only"
                )
            by_layer = np.mean([r["important_by_layer"] for r in group], axis=0)
            types = [sum(r["dependency_types"][t] for r in group) for t in _TYPES]
            lines.append(
                "| "
                + " | ".join(
                    [
                        name,
                        cond,
                        str(n),
                        pm([r["base_accuracy"] for r in group], 4),
                        pm([r["n_sub_modules"] for r in group], 1),
                        f"{pm([r['n_important'] for r in group], 1)} "
                        f"({' / '.join(f'{v:.1f}' for v in by_layer)})",
                        f"{significant(group, 'mean_chi2_p')}/{n} / "
                        f"{significant(group, 'mean_fisher_p')}/{n}",
                        pm([r["network_tests"]["mean_effect"] for r in group], 3),
                        f"{significant(group, 'spread_chi2_p')}/{n} / "
                        f"{significant(group, 'spread_fisher_p')}/{n}",
                        _effect([r["network_tests"]["spread_effect"] for r in group], pm),
                        pm([r["n_pairs"] for r in group], 1),
                        " / ".join(str(t) for t in types),
                    ]
                )
                + " |"
            )
    return "\n".join(lines)


def _effect(values, pm) -> str:
    """Mean ± std of the finite effect factors, and how many networks had an infinite one
    (a sub-module whose lesion changed no class accuracy has spread 0, so its ratio is
    infinite, as in the authors' table); "n/a" for NaN (None in JSON)."""
    values = np.array([np.nan if v is None else v for v in values], dtype=float)
    finite = values[np.isfinite(values)]
    infinite = int(np.isinf(values).sum())
    parts = [pm(finite, 3)] if finite.size else []
    if infinite:
        parts.append(f"inf in {infinite}/{values.size}")
    return "; ".join(parts) or "n/a"
