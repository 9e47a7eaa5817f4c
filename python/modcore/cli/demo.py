"""``modcore demo``: train a small pruned MLP, test it against shuffles, write a report."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from .analyze import _analyze, _load_network
from .options import (
    _COUNT,
    UsageError,
    _add_analysis_options,
    _check_plot_installed,
    _output_dir,
)
from .train import _train, _training_data

# The demo tests its network against both of the 2020 paper's nulls.
DEMO_SHUFFLES = ("layer", "layer_nonzero")


# What the demo's stand-in for Fashion-MNIST is, wherever it says it runs on it.
DEMO_SYNTHETIC = (
    "synthetic: five independent two-class tasks side by side, so a network that learns "
    "it has modules by construction; it shows the method at work, not the paper's finding"
)


def add_demo_parser(sub) -> None:
    d = sub.add_parser(
        "demo",
        help="train a small pruned MLP on Fashion-MNIST (on the synthetic 'bands' set, saying "
        "so, when it is not installed) and test it against shuffles; no downloads",
    )
    d.add_argument(
        "--out",
        type=_output_dir,
        default="modcore-demo",
        help="directory for the network and the report (default modcore-demo)",
    )
    d.add_argument(
        "--data-dir",
        type=Path,
        help="where Fashion-MNIST's four IDX files are (default: Debian's "
        "dataset-fashion-mnist, then $MODCORE_DATA/fashion-mnist); an error if they are "
        "not there",
    )
    d.add_argument(
        "--epochs",
        type=_COUNT,
        default=3,
        help="epochs of each phase, training then pruning (default 3)",
    )
    d.add_argument(
        "--n-train", type=_COUNT, default=10000, help="training examples (default 10000)"
    )
    _add_analysis_options(d, shuffles=300, default_shuffles=DEMO_SHUFFLES)


def run_demo(args, extra: dict) -> None:
    if importlib.util.find_spec("torch") is None:
        raise UsageError(
            "the demo trains a network, which needs torch: pip install 'modcore[torch]'"
        )
    from ..nn import DEFAULT_WIDTHS, DatasetNotFoundError

    args.report = args.out
    args.shuffle = args.shuffle or list(DEMO_SHUFFLES)
    _check_plot_installed(args)
    k = args.n_clusters if args.n_clusters != "auto" else None
    k = max(k) if isinstance(k, range) else k
    if k is not None and k > sum(DEFAULT_WIDTHS):  # before the training, not after it
        raise UsageError(
            f"--n-clusters {k}: the demo's network has {sum(DEFAULT_WIDTHS)} units "
            f"({'-'.join(map(str, DEFAULT_WIDTHS))}), fewer once pruned"
        )
    net = args.out / "net.pt"
    train_args = argparse.Namespace(
        arch="mlp",
        dataset="fashion",
        data_dir=args.data_dir,
        widths=None,
        epochs=args.epochs,
        prune_epochs=args.epochs,
        batch_size=None,
        prune=0.9,
        dropout=0.0,
        conv_dropout=0.0,
        l1=0.0,
        l2=0.0,
        clusterable_init=None,
        spectral=0.0,
        spectral_eigenvalues=None,
        spectral_every=None,
        partition=0.0,
        partition_clusters=None,
        partition_every=None,
        n_train=args.n_train,
        n_test=None,
        seed=args.seed,
        out=net,
        quiet=args.quiet,
    )
    try:
        data = _training_data(train_args)
    except DatasetNotFoundError as exc:
        if args.data_dir is not None:  # asked for, not there: no stand-in
            raise
        print(f"note: {exc.cli_message}")
        print(f"demo data set: bands ({DEMO_SYNTHETIC})")
        extra["note"] = (
            f"trained on the synthetic 'bands' set ({DEMO_SYNTHETIC}), because Fashion-MNIST "
            "was not found; install it (apt-get install dataset-fashion-mnist) and run "
            "the demo again for the paper's finding."
        )
        train_args.dataset = "bands"
        data = _training_data(train_args)
    else:
        print("demo data set: Fashion-MNIST, as in the paper")
    args.out.mkdir(exist_ok=True)  # its folder exists: checked by _output_dir
    extra["training"] = _train(train_args, data)
    extra["network"] = str(net)
    _analyze(_load_network(net), args, extra)
