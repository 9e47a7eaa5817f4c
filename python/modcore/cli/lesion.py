"""``modcore lesion``: the lesion tests of a checkpoint's modules."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..common.files import atomic_write, write_json
from ..common.limits import MAX_RANDOM_LESIONS
from ..common.markup import markdown_text
from ..common.version import __version__
from ..network.checks import check_n_jobs
from ..network.torch import PRESETS
from .options import (
    _COUNT,
    UsageError,
    _add_k_option,
    _add_seed,
    _add_test_data_options,
    _check_test_data,
    _fraction,
    _integer,
    _option,
    _output_dir,
    _output_file,
    _shape,
)


def add_lesion_parser(sub) -> None:
    les = sub.add_parser("lesion", help="lesion tests: accuracy drop of each module in each layer")
    les.add_argument(
        "network", type=Path, help="a modcore checkpoint (.pt) of an MLP or a CNN (`modcore train`)"
    )
    les.add_argument(
        "--input-shape",
        type=_shape,
        help="one example's shape without the batch dim, e.g. 1,28,28 (default: "
        "the checkpoint's); the test inputs are reshaped to it",
    )
    _add_test_data_options(les, "is used")
    _add_k_option(les)
    les.add_argument(
        "--random-lesions",
        type=_integer(1, MAX_RANDOM_LESIONS),
        default=50,
        help="random same-size lesions per sub-module (default 50; candidates for "
        "'important' get more, enough for the Bonferroni threshold)",
    )
    les.add_argument(
        "--min-drop",
        type=_fraction(closed_low=True, top=100.0),
        default=1.0,
        help="smallest accuracy drop, in percentage points, for a sub-module to be "
        "important (default 1)",
    )
    les.add_argument(
        "--alpha",
        type=_fraction(closed_low=False),
        default=0.05,
        help="family-wise level, Bonferroni over the tested sub-modules (default 0.05)",
    )
    les.add_argument(
        "--rule",
        choices=("bonferroni", "paper"),
        default="bonferroni",
        help="importance: bonferroni (the default), or the paper's (no random "
        "lesion more harmful, ties count for the sub-module, > 12 units)",
    )
    _option(
        les,
        "--pair-set",
        "--pairs",
        choices=("important", "all"),
        default="important",
        help="double lesions of pairs of important sub-modules (default) or of all "
        "pairs in different layers (quadratic cost)",
    )
    les.add_argument(
        "--preset",
        choices=tuple(PRESETS),
        help="cluster (and lesion) only the convolution channels, as the 2021 paper",
    )
    les.add_argument(
        "--double",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run the double-lesion study (default: yes; --no-double skips it)",
    )
    _add_seed(les)
    _option(
        les,
        "--n-jobs",
        "--threads",
        type=_COUNT,
        default=None,
        help="torch threads (default: torch's; more are capped at the cores)",
    )
    les.add_argument(
        "--report",
        type=_output_dir,
        help="write lesion_single.png, lesion_double.png and lesion.md here",
    )
    les.add_argument("--json", type=_output_file, help="write the results as JSON here")
    les.add_argument("--quiet", action="store_true", help="no progress line")


def run_lesion(args, extra: dict) -> None:
    _lesion(args)


def _lesion(args) -> dict:
    try:
        import torch
    except ImportError as exc:
        raise UsageError("lesion tests need torch: pip install 'modcore[torch]'") from exc
    from ..nn import checkpoint, load_dataset
    from ..nn.lesion import lesion_study

    if args.pair_set != "important" and not args.double:
        raise UsageError(
            f"--pair-set {args.pair_set} chooses the double lesions; --no-double skips them"
        )
    _check_test_data(args.dataset, args.input_shape, "--input-shape")
    if args.n_jobs is not None:
        torch.set_num_threads(check_n_jobs(args.n_jobs))
    saved = checkpoint.load(args.network)
    model = saved.model
    shape = args.input_shape or tuple(model.input_shape)
    if args.input_shape is None:
        _check_test_data(args.dataset, shape, f"the input shape of {args.network}")
    # Only the test split is used; n_train=1 avoids holding the training set.
    data = load_dataset(
        args.dataset,
        data_dir=args.data_dir,
        seed=args.seed,
        n_train=1,
        n_test=args.n_test,
        flatten=len(shape) == 1,
    )
    test: Any = data  # the Dataset, or its test split reshaped
    if data.input_shape != shape:  # of the same size: checked above
        test = (data.x_test.reshape(-1, *shape), data.y_test)
    study = lesion_study(
        model,
        test,
        n_clusters=args.n_clusters,
        random_lesions=args.random_lesions,
        seed=args.seed,
        double=args.double,
        progress=not args.quiet,
        alpha=args.alpha,
        min_drop=args.min_drop / 100,
        rule=args.rule,
        pair_set=args.pair_set,
        preset=args.preset,
    )
    print(study.table())
    print(f"wall time {study.seconds['total']:.1f} s, lesions evaluated {study.n_masks}")
    results = {
        "network": str(args.network),
        "arch": saved.arch,
        "dataset": data.name,
        "modcore": __version__,
        **study.to_dict(),
    }
    if args.json:
        write_json(args.json, results)
        print(f"results written to {args.json}")
    if args.report:
        from ..report.lesion_plot import save_figures

        figures = save_figures(study, args.report)
        images = "".join(f"![{p.stem}]({p.name})\n\n" for p in figures)
        with atomic_write(args.report / "lesion.md") as f:
            f.write(
                f"## Lesion tests: {markdown_text(args.network)}\n\n{study.to_markdown()}"
                f"\n\n{images}"
            )
        print(f"figures and lesion.md written to {args.report}")
    return results
