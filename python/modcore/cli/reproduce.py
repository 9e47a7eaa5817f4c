"""``modcore reproduce``: the papers' experiments (MLP, CNN) and lesion tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..method.null import MAX_SHUFFLES
from .options import (
    _COUNT,
    UsageError,
    _add_graph_options,
    _add_k_option,
    _graph_options,
    _integer,
    _option,
    _output_dir,
    _setting_int,
)


def add_reproduce_parser(sub) -> None:
    r = sub.add_parser(
        "reproduce",
        help="the papers' experiment: train, prune and test many MLPs (2020) or CNNs (2021)",
    )
    r.add_argument(
        "--arch",
        choices=("mlp", "cnn"),
        default="mlp",
        help="the 2020 paper's MLP or the 2021 paper's CNN, clustered by its conv "
        "channels (default mlp)",
    )
    r.add_argument(
        "--conditions",
        default=None,
        help="comma-separated trainings, each giving an unpruned and a pruned condition: "
        "dropout, plain, clusterable-init, l1, l2, spectral, partition (default "
        "dropout,plain: the 2020 paper's four conditions; the others are the 2021 "
        "paper's ways of promoting modularity and Golechha et al.'s partition loss, "
        "with the settings listed in modcore.experiments.conditions.TRAININGS)",
    )
    r.add_argument(
        "--datasets",
        default=None,
        help="comma-separated, tried in order; absent ones are skipped "
        "(default fashion,line,mnist,cifar10; with --quick: line)",
    )
    r.add_argument(
        "--seeds",
        type=_COUNT,
        default=None,
        help="runs per data set and condition (default 5; --quick: 1)",
    )
    _option(
        r,
        "--n-shuffles",
        "--shuffles",
        type=_integer(1, MAX_SHUFFLES),
        default=None,
        help="size of each shuffle null (default 320; --quick: 20)",
    )
    r.add_argument(
        "--epochs",
        type=_COUNT,
        default=None,
        help="epochs per phase: each seed trains this many (the unpruned network) "
        "then prunes this many from there (the pruned one) (default 20 for mlp, 10 for "
        "cnn; --quick: 1)",
    )
    r.add_argument(
        "--out",
        type=_output_dir,
        default=None,
        help="directory of runs.jsonl, checkpoints/, table.csv, table.md, "
        "summary.json, ncut.png (default results, or results/cnn for "
        "--arch cnn); finished runs in it are skipped, so a stopped "
        "reproduction resumes",
    )
    r.add_argument(
        "--quick",
        action="store_true",
        help="a small end-to-end run for CI: 1000 training / 500 test examples",
    )
    _add_k_option(r)
    _option(
        r,
        "--n-init",
        type=_setting_int("n_init"),
        default=None,
        help="k-means restarts of the authors' label rule (default 25; --lesions: its "
        "k-means restarts, default 10). Every run is clustered by both rules: the "
        "authors' (k-means, lowest inertia, no refinement) and modcore's default "
        "(cluster_qr refined by n-cut moves)",
    )
    _add_graph_options(r)
    r.add_argument("--data-dir", type=Path, help="where dataset files are (or $MODCORE_DATA)")
    r.add_argument(
        "--device",
        default="cpu",
        help="where training and pruning run: cpu (default), cuda or cuda:N; the "
        "clustering runs on the CPU",
    )
    _option(
        r,
        "--n-jobs",
        "--jobs",
        type=_COUNT,
        default=None,
        help="clustering threads (default: all cores)",
    )
    r.add_argument(
        "--max-runs",
        type=_COUNT,
        default=None,
        help="stop after this many new runs (resume later with the same command)",
    )
    r.add_argument(
        "--lesions",
        action="store_true",
        help="instead, the paper's lesion tests of the pruned MLPs (default data set "
        "fashion; k=12, the paper's rule, 100 random lesions, --quick 10), "
        "reusing OUT/checkpoints; results in OUT/lesions",
    )


def run_reproduce(args, extra: dict) -> None:
    missing = [m for m in ("torch", "pandas") if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(f"reproduce needs {' and '.join(missing)}: pip install 'modcore[torch]'")
    from ..experiments.reproduce import reproduce

    datasets = None
    if args.datasets is not None:
        datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
        if not datasets:
            raise UsageError("--datasets is empty")
    conditions = None
    if args.conditions is not None:
        from ..experiments.conditions import TRAININGS

        conditions = [c.strip() for c in args.conditions.split(",") if c.strip()]
        unknown = [c for c in conditions if c not in TRAININGS]
        if unknown or not conditions:
            raise UsageError(
                f"--conditions: unknown {', '.join(unknown) or '(empty)'}; expected some of "
                + ",".join(TRAININGS)
            )
    if args.lesions:
        if args.conditions is not None:
            raise UsageError("--conditions does not apply to --lesions")
        if args.n_shuffles is not None:
            raise UsageError("--n-shuffles does not apply to --lesions")
        if args.arch != "mlp":
            raise UsageError(
                "--lesions reproduces the lesion tests of the MLPs; use "
                "'modcore lesion' on a CNN checkpoint"
            )
        if args.device != "cpu":
            raise UsageError("--device does not apply to --lesions (it trains on the CPU)")
        from ..experiments.lesions import reproduce_lesions

        reproduce_lesions(
            datasets=datasets,
            seeds=args.seeds,
            epochs=args.epochs,
            out=args.out or Path("results"),
            quick=args.quick,
            n_clusters=args.n_clusters,
            **({} if args.n_init is None else {"n_init": args.n_init}),
            data_dir=args.data_dir,
            n_jobs=args.n_jobs,
            max_runs=args.max_runs,
            command=extra["command"],
        )
        return
    out = args.out or (Path("results") if args.arch == "mlp" else Path("results/cnn"))
    reproduce(
        datasets=datasets,
        arch=args.arch,
        conditions=conditions,
        seeds=args.seeds,
        n_shuffles=args.n_shuffles,
        epochs=args.epochs,
        out=out,
        quick=args.quick,
        n_clusters=args.n_clusters,
        **({} if args.n_init is None else {"n_init": args.n_init}),
        **_graph_options(args),
        data_dir=args.data_dir,
        device=args.device,
        n_jobs=args.n_jobs,
        max_runs=args.max_runs,
        command=extra["command"],
    )
