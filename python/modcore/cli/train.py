"""``modcore train``: an MLP or a CNN trained (and pruned) with the papers' recipe."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from .options import (
    _COUNT,
    _SEED,
    UsageError,
    _fraction,
    _integer,
    _output_file,
    _setting_int,
    _widths,
)


def add_train_parser(sub) -> None:
    t = sub.add_parser("train", help="train (and prune) an MLP or a CNN with the papers' recipe")
    t.add_argument(
        "--arch",
        choices=("mlp", "cnn"),
        default="mlp",
        help="mlp: the 2020 paper's MLP (see --widths); cnn: the 2021 paper's CNN, "
        "three 3x3 convolutions of 64 channels, 2x2 max-pooling after the "
        "second and third, dense 128, on images (default mlp)",
    )
    t.add_argument("--dataset", default="fashion", help="fashion, mnist, cifar10, line, ...")
    t.add_argument("--data-dir", type=Path, help="where dataset files are (or $MODCORE_DATA)")
    t.add_argument(
        "--widths",
        type=_widths,
        default=None,
        help="mlp layer widths, comma-separated (the first must match the inputs; "
        "default 784,256,256,256,256,10)",
    )
    t.add_argument(
        "--epochs",
        type=_COUNT,
        default=None,
        help="epochs of plain training (default 20 for mlp, 10 for cnn)",
    )
    t.add_argument(
        "--prune-epochs",
        type=_COUNT,
        default=None,
        help="epochs of pruned fine-tuning (default: as --epochs)",
    )
    t.add_argument(
        "--batch-size",
        type=_COUNT,
        default=None,
        help="mini-batch size (default 128 for mlp, 64 for cnn)",
    )
    t.add_argument(
        "--prune",
        type=_fraction(closed_low=True),
        default=0.9,
        help="final sparsity; 0 = no pruning",
    )
    t.add_argument(
        "--dropout",
        type=_fraction(closed_low=True),
        default=0.0,
        help="dropout after each hidden dense layer, in [0, 1) (the papers' variant: 0.5)",
    )
    t.add_argument(
        "--conv-dropout",
        type=_fraction(closed_low=True),
        default=0.0,
        help="cnn only: dropout after each convolution block (the 2021 paper's "
        "variant: 0.25, with --dropout 0.5)",
    )
    _add_modularity_terms(t)
    t.add_argument(
        "--n-train", type=_COUNT, default=None, help="use only this many training examples"
    )
    t.add_argument("--n-test", type=_COUNT, default=None, help="use only this many test examples")
    t.add_argument(
        "--seed",
        type=_SEED,
        default=0,
        help="seed of the data subset, the initialisation, the batch order and dropout (default 0)",
    )
    t.add_argument("--out", type=_output_file, required=True, help="checkpoint to write (.pt)")
    t.add_argument(
        "--quiet",
        action="store_true",
        help="no per-epoch progress (phase 'train' then 'prune'; 'batch acc': the "
        "epoch's training batches as trained, 'test acc': the test set, eval mode)",
    )


def _add_modularity_terms(t) -> None:
    """The ways of training for modularity: weight penalties, a clusterable
    initialization and the two clusterability regularizers."""
    penalty = _fraction(closed_low=True, top=float("inf"))
    t.add_argument(
        "--l1",
        type=penalty,
        default=0.0,
        help="L1 penalty on the weights, l1 * sum|W| (the papers' variant: 5e-5)",
    )
    t.add_argument(
        "--l2",
        type=penalty,
        default=0.0,
        help="L2 penalty on the weights, l2 * sum W^2 (the papers' variant: 5e-5)",
    )
    t.add_argument(
        "--clusterable-init",
        type=_integer(2),
        default=None,
        metavar="N",
        help="plant N modules in the initial weights (the 2021 paper's clusterable "
        "initialization; the authors used 10)",
    )
    t.add_argument(
        "--spectral",
        type=penalty,
        default=0.0,
        metavar="STRENGTH",
        help="spectral clusterability regularizer of this strength (the authors' port: "
        "1e-3): the sum of the normalized Laplacian's smallest non-trivial eigenvalues",
    )
    t.add_argument(
        "--spectral-eigenvalues",
        type=_COUNT,
        default=None,
        help="with --spectral: eigenvalues the regularizer sums (default 3)",
    )
    t.add_argument(
        "--spectral-every",
        type=_COUNT,
        default=None,
        help="with --spectral: apply the regularizer every this many steps, scaled by it "
        "(default 20)",
    )
    t.add_argument(
        "--partition",
        type=penalty,
        default=0.0,
        metavar="STRENGTH",
        help="partition loss of this strength (Golechha et al. 2025): the fraction of "
        "weight mass between the modules of modcore's clustering, reclustered every "
        "--partition-every steps",
    )
    t.add_argument(
        "--partition-clusters",
        type=_setting_int("n_clusters"),
        default=None,
        help="with --partition: modules of the partition loss's clustering (default 12)",
    )
    t.add_argument(
        "--partition-every",
        type=_COUNT,
        default=None,
        help="with --partition: steps between the partition loss's clusterings (default 100)",
    )


def run_train(args, extra: dict) -> None:
    _train(args)


def _training_data(args):
    """The data set ``modcore train`` (or the demo) trains on, as its options say."""
    from ..nn import load_dataset

    return load_dataset(
        args.dataset,
        data_dir=args.data_dir,
        seed=args.seed,
        n_train=args.n_train,
        n_test=args.n_test,
        flatten=args.arch == "mlp",
    )


def _train(args, data=None) -> dict:
    """``modcore train``: on ``data`` if given (loaded by :func:`_training_data`). Every
    option is checked, and the model built from them, before the data loads."""
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise UsageError("training needs torch: pip install 'modcore[torch]'") from exc
    from ..nn import RECIPES, checkpoint, clusterable_init, paper_recipe, train
    from ..nn.train import check_terms

    _check_options(args)
    recipe = RECIPES[args.arch]
    epochs = recipe["epochs"] if args.epochs is None else args.epochs
    prune_epochs = epochs if args.prune_epochs is None else args.prune_epochs
    batch_size = recipe["batch_size"] if args.batch_size is None else args.batch_size
    model = _model(args)
    spectral, partition = _terms(args)
    check_terms(model, spectral, partition, names=_TERM_OPTIONS)
    if args.clusterable_init is not None:
        try:
            clusterable_init(model, args.clusterable_init, seed=args.seed)
        except ValueError as exc:
            raise UsageError(f"--clusterable-init {args.clusterable_init}: {exc}") from None
    if data is None:
        data = _training_data(args)
    terms = {"l1": args.l1, "l2": args.l2, "spectral": spectral, "partition": partition}
    print(
        f"training a {args.arch} ({_describe(model.config)}) on {data.name} ({data.source}), "
        f"{len(data.y_train)} training examples"
    )
    if not args.quiet:
        print(
            "per epoch: 'batch acc' is the accuracy on that epoch's training batches as they "
            "were trained on (dropout on; while pruning, weights and masks changing), 'test "
            "acc' the test set's after the epoch, in eval mode"
        )
    if args.prune > 0:
        history = paper_recipe(
            model,
            data,
            epochs=epochs,
            prune_epochs=prune_epochs,
            batch_size=batch_size,
            seed=args.seed,
            progress=not args.quiet,
            **terms,
        )
    else:
        history = train(
            model,
            data,
            epochs=epochs,
            batch_size=batch_size,
            seed=args.seed,
            progress=not args.quiet,
            **terms,
        )
    meta = {
        "arch": args.arch,
        **model.config,
        "dataset": data.name,
        "data_source": data.source,
        "n_train": len(data.y_train),
        "n_test": len(data.y_test),
        "sparsity": args.prune,
        "train_accuracy": history.train_accuracy[-1],
        "test_accuracy": history.test_accuracy[-1],
        "seed": history.seed,
        "epochs": epochs,
        "prune_epochs": prune_epochs if args.prune > 0 else 0,
        "batch_size": batch_size,
        "l1": args.l1,
        "l2": args.l2,
        "clusterable_init": args.clusterable_init,
        "spectral": None if spectral is None else dataclasses.asdict(spectral),
        "partition": None if partition is None else dataclasses.asdict(partition),
    }
    checkpoint.save(model, args.out, meta)
    print(
        f"test accuracy {meta['test_accuracy']:.4f} (the saved network, eval mode); last "
        f"epoch's batch accuracy {meta['train_accuracy']:.4f}; saved {args.out}"
    )
    return meta


# The regularizers' settings as the command spells them, for check_terms' messages.
_TERM_OPTIONS = {
    "spectral.n_eigenvalues": "--spectral-eigenvalues",
    "partition.n_clusters": "--partition-clusters",
}


def _check_options(args) -> None:
    """What the options alone decide: combinations that do not apply."""
    if args.prune not in (0, 0.9):
        raise UsageError(f"--prune must be 0.9 (the paper's schedule) or 0, got {args.prune}")
    if args.arch == "cnn" and args.widths is not None:
        raise UsageError("--widths sets the MLP's layers; it does not apply to --arch cnn")
    if args.arch == "mlp" and args.conv_dropout:
        raise UsageError("--conv-dropout applies to --arch cnn only")
    if args.prune == 0 and args.prune_epochs is not None:
        raise UsageError("--prune-epochs sets the pruning phase; it does not apply to --prune 0")
    for term, options in (
        ("--spectral", ("--spectral-eigenvalues", "--spectral-every")),
        ("--partition", ("--partition-clusters", "--partition-every")),
    ):
        given = [o for o in options if getattr(args, o[2:].replace("-", "_")) is not None]
        if given and not getattr(args, term[2:]) > 0:
            raise UsageError(f"{given[0]} sets the {term[2:]} term: it needs {term} STRENGTH > 0")


def _model(args):
    """The untrained model the options describe, on the data set's input shape (known
    without loading it)."""
    from ..nn import CNN, DEFAULT_WIDTHS, MLP
    from ..nn.datasets import N_CLASSES, dataset_input_shape

    try:
        shape = dataset_input_shape(args.dataset, flatten=args.arch == "mlp")
    except ValueError as exc:
        raise UsageError(f"--dataset: {exc}") from None
    if args.arch == "cnn":
        return CNN(
            shape,
            n_classes=N_CLASSES,
            conv_dropout=args.conv_dropout,
            dense_dropout=args.dropout,
            seed=args.seed,
        )
    widths = args.widths or list(DEFAULT_WIDTHS)
    if widths[0] != shape[0]:
        raise UsageError(
            f"--widths starts with {widths[0]} inputs but {args.dataset} has {shape[0]}"
        )
    return MLP(widths, dropout=args.dropout, seed=args.seed)


def _terms(args) -> tuple:
    """The regularizers' settings the options give (None where a term is off)."""
    from ..nn.regularizers import Partition, Spectral

    def given(**options):
        return {name: value for name, value in options.items() if value is not None}

    spectral = partition = None
    if args.spectral > 0:
        spectral = Spectral(
            strength=args.spectral,
            **given(n_eigenvalues=args.spectral_eigenvalues, every=args.spectral_every),
        )
    if args.partition > 0:
        partition = Partition(
            strength=args.partition,
            **given(n_clusters=args.partition_clusters, refresh_every=args.partition_every),
        )
    return spectral, partition


def _describe(config: dict) -> str:
    """A model's config on one line: ``widths 784-16-10, dropout 0.0``."""
    return ", ".join(
        f"{key.replace('_', ' ')} {'-'.join(map(str, v)) if isinstance(v, list) else v}"
        for key, v in config.items()
    )
