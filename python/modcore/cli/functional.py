"""``modcore functional``: functional modules of a checkpoint and their comparison
with its weight modules (kept out of cli.py, which only registers it)."""

from __future__ import annotations

from pathlib import Path

from ..common.files import write_json
from ..functional.coactivation import METHODS
from ..functional.comparison import MAX_PERMUTATIONS
from ..method.null import MAX_SHUFFLES
from ..network.torch import MAP_NORMS
from .options import (
    UsageError,
    _add_k_option,
    _add_rule_options,
    _add_seed_and_jobs,
    _add_test_data_options,
    _check_plot_installed,
    _check_test_data,
    _integer,
    _option,
    _output_dir,
    _output_file,
    _rule,
    _shape,
)

__all__ = ["add_functional_parser", "run_functional"]


def add_functional_parser(sub) -> None:
    f = sub.add_parser(
        "functional",
        help="cluster units by their coactivations and compare with the weight modules",
    )
    f.add_argument(
        "network", type=Path, help="a modcore checkpoint (.pt), e.g. from `modcore train`"
    )
    _add_test_data_options(f, "drives the activations")
    f.add_argument(
        "--input-shape",
        type=_shape,
        help="the model's input shape without the batch dimension, e.g. 1,28,28: "
        "inputs are reshaped to it and the model traced with it (default: the "
        "checkpoint model's input_shape)",
    )
    _add_k_option(f)
    _option(
        f,
        "--n-shuffles",
        "--shuffles",
        type=_integer(0, MAX_SHUFFLES),
        default=1000,
        help="null of the functional n-cut: coactivation matrices with permuted "
        "upper triangles (default 1000; 0 = none)",
    )
    _option(
        f,
        "--n-permutations",
        "--permutations",
        type=_integer(1, MAX_PERMUTATIONS),
        default=1000,
        help="null of the comparison: permuted weight labels (default 1000)",
    )
    f.add_argument(
        "--method", choices=METHODS, default="spearman", help="correlation (default spearman)"
    )
    _option(
        f,
        "--map-norm",
        "--reduction",
        choices=MAP_NORMS,
        default="l2",
        help="a conv channel's value: this norm of its output map (default l2; "
        "--kernel-norm, of analyze, reduces kernel weights instead)",
    )
    _add_rule_options(f)
    _add_seed_and_jobs(f)
    f.add_argument("--json", type=_output_file, help="write the results as JSON here")
    f.add_argument(
        "--report",
        type=_output_dir,
        help="write summary.json, the coactivation matrix ordered by weight module "
        "(coactivation.png) and index.html to this directory",
    )
    f.add_argument("--quiet", action="store_true", help="no progress bar")


def run_functional(args, extra: dict) -> dict:
    _check_plot_installed(args)
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise UsageError("functional modules need torch: pip install 'modcore[torch]'") from exc
    from ..functional.comparison import compare_modules
    from ..functional.modules import functional_modules
    from ..method.cluster import spectral_cluster
    from ..nn import checkpoint, load_dataset
    from ..report.functional import functional_summary, write_functional_report

    _check_test_data(args.dataset, args.input_shape, "--input-shape")
    # A failure here (no checkpoint, no data, a refused model) is one line from cli.main.
    model = checkpoint.load(args.network).model
    shape = args.input_shape or tuple(getattr(model, "input_shape", ())) or None
    if args.input_shape is None:
        _check_test_data(args.dataset, shape, f"the input shape of {args.network}")
    # Only the test split is used; n_train=1 avoids holding the training set.
    data = load_dataset(
        args.dataset, data_dir=args.data_dir, seed=args.seed, n_train=1, n_test=args.n_test
    )
    x = data.x_test
    if shape is not None:  # of the data's size: checked above
        x = x.reshape(len(x), *shape)  # flat inputs are channel-major, as load_dataset's
    options = dict(n_clusters=args.n_clusters, seed=args.seed, n_jobs=args.n_jobs, **_rule(args))
    weight = spectral_cluster(model, input_shape=shape, **options)
    fm = functional_modules(
        model,
        x,
        n_shuffles=args.n_shuffles,
        method=args.method,
        map_norm=args.map_norm,
        progress=not args.quiet,
        **options,
    )
    cmp = compare_modules(fm, weight, n_permutations=args.n_permutations, seed=args.seed)
    _print(args, fm, weight, cmp)
    extra = {**extra, "network": str(args.network), "dataset": data.name, "n_samples": len(x)}
    results = functional_summary(fm, cmp, weight, extra)
    if args.json:
        write_json(args.json, results)
        print(f"results written to {args.json}")
    if args.report is not None:
        index = write_functional_report(args.report, fm, cmp, weight, extra)
        print(f"report written to {index}")
    return results


def _print(args, fm, weight, cmp) -> None:
    acts = fm.activations
    print(
        f"network {args.network}, {acts.n_units} units of {len(acts.group_names)} groups on "
        f"{acts.n_samples} samples ({len(acts.dropped)} constant units dropped), "
        f"k={args.n_clusters}, {fm.method}"
    )
    line = f"functional n-cut {fm.ncut:.4f}"
    if fm.significance is not None:
        s = fm.significance
        line += (
            f"  (null {s.shuffled_mean:.4f} ± {s.shuffled_std:.4f}, z={s.z_score:.2f}, "
            f"p={s.p_value:.4g}, {s.n_shuffles} shuffles)"
        )
    print(line)
    print(f"weight n-cut {weight.ncut:.4f}")
    print(f"on the {cmp.n_units} units in both ({cmp.n_permutations} label permutations):")
    print(f"{'':16s} {'value':>8s} {'null':>8s} {'std':>8s} {'z':>8s} {'p':>8s}")
    for name, test in (
        ("NMI", cmp.nmi),
        ("adjusted Rand", cmp.ari),
        ("transfer n-cut", cmp.transfer_ncut),
    ):
        print(
            f"{name:16s} {test.value:8.4f} {test.mean:8.4f} {test.std:8.4f} "
            f"{test.z_score:8.2f} {test.p_value:8.4f}"
        )
    print(
        f"mean edge weight (r^2) within weight modules {cmp.within_mean:.4g}, between "
        f"{cmp.between_mean:.4g}; functional n-cut of these units {cmp.functional_ncut:.4f}"
    )
