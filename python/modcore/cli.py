"""The ``modcore`` command: train, analyze, sweep, lesion, reproduce, demo."""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import math
import shlex
import sys
from pathlib import Path

from . import __version__
from .significance import SHUFFLES, ncut_significance


class UsageError(Exception):
    """A problem with the user's input: one line on stderr, exit code 2."""


def _add_analysis_options(p: argparse.ArgumentParser, shuffles: int) -> None:
    p.add_argument("--clusters", type=int, default=12, help="number of modules k (default 12)")
    p.add_argument("--shuffles", type=int, default=shuffles,
                   help=f"size of the shuffle null (default {shuffles})")
    p.add_argument("--shuffle", choices=SHUFFLES, action="append",
                   help="shuffle method; repeat for several (default: layer)")
    p.add_argument("--n-init", type=int, default=10, help="k-means restarts (default 10)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--jobs", type=int, default=None, help="threads (default: all cores)")
    p.add_argument("--json", type=Path, help="write the results as JSON here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_scheduler_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run the shuffles on the Dask cluster at this scheduler address, "
                        "e.g. tcp://host:8786 (needs modcore[dask] here and on the workers)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modcore", description="How modular is a trained neural network?")
    parser.add_argument("--version", action="version", version=f"modcore {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    a = sub.add_parser("analyze", help="cluster a network and test it against shuffles")
    a.add_argument("network", type=Path,
                   help="weights (.pt/.pth, .safetensors or .npz) or a modcore checkpoint")
    _add_analysis_options(a, shuffles=1000)
    a.add_argument("--input-shape", type=_shape,
                   help="trace the checkpoint's model with inputs of this shape, without "
                        "the batch dimension, e.g. 1,28,28 (for CNNs and residual nets)")
    a.add_argument("--report", type=Path,
                   help="write summary.json, figures and index.html to this directory")
    _add_scheduler_option(a)

    s = sub.add_parser("sweep", help="test many networks; one table row per network and shuffle")
    s.add_argument("networks", nargs="+", type=Path,
                   help="weight files (.pt/.pth, .safetensors, .npz) or directories of them")
    _add_analysis_options(s, shuffles=1000)
    s.add_argument("--out", type=Path,
                   help="results file (.csv or .jsonl): rows are appended as networks finish, "
                        "and networks already in it are skipped, so a stopped sweep resumes")
    _add_scheduler_option(s)

    t = sub.add_parser("train", help="train (and prune) an MLP or a CNN with the papers' recipe")
    t.add_argument("--arch", choices=("mlp", "cnn"), default="mlp",
                   help="mlp: the 2020 paper's MLP (see --widths); cnn: the 2021 paper's CNN, "
                        "three 3x3 convolutions of 64 channels, 2x2 max-pooling after the "
                        "second and third, dense 128, on images (default mlp)")
    t.add_argument("--dataset", default="fashion", help="fashion, mnist, cifar10, line, ...")
    t.add_argument("--data-dir", type=Path, help="where dataset files are (or $MODCORE_DATA)")
    t.add_argument("--widths", default=None,
                   help="mlp layer widths, comma-separated (the first must match the inputs; "
                        "default 784,256,256,256,256,10)")
    t.add_argument("--epochs", type=int, default=None,
                   help="epochs of plain training (default 20 for mlp, 10 for cnn)")
    t.add_argument("--prune-epochs", type=int, default=None,
                   help="epochs of pruned fine-tuning (default: as --epochs)")
    t.add_argument("--batch-size", type=int, default=None,
                   help="mini-batch size (default 128 for mlp, 64 for cnn)")
    t.add_argument("--prune", type=float, default=0.9, help="final sparsity; 0 = no pruning")
    t.add_argument("--dropout", type=float, default=0.0,
                   help="dropout after each hidden dense layer (the papers' variant: 0.5)")
    t.add_argument("--conv-dropout", type=float, default=0.0,
                   help="cnn only: dropout after each convolution block (the 2021 paper's "
                        "variant: 0.25, with --dropout 0.5)")
    t.add_argument("--n-train", type=int, default=None, help="use only this many training examples")
    t.add_argument("--n-test", type=int, default=None, help="use only this many test examples")
    t.add_argument("--seed", type=int, default=0,
                   help="seed of the data subset, the initialisation, the batch order and "
                        "dropout (default 0)")
    t.add_argument("--out", type=Path, required=True, help="checkpoint to write (.pt)")
    t.add_argument("--quiet", action="store_true", help="no per-epoch progress")

    d = sub.add_parser("demo", help="train a small pruned MLP and analyze it, no downloads")
    d.add_argument("--out", type=Path, default=Path("modcore-demo"),
                   help="directory for the network and the report (default modcore-demo)")
    d.add_argument("--epochs", type=int, default=3, help="epochs per phase (default 3)")
    d.add_argument("--n-train", type=int, default=10000,
                   help="training examples (default 10000)")
    _add_analysis_options(d, shuffles=300)
    les = sub.add_parser("lesion", help="lesion tests: accuracy drop of each module in each layer")
    les.add_argument("network", type=Path,
                     help="a modcore checkpoint (.pt) of an MLP or a CNN (`modcore train`)")
    les.add_argument("--input-shape", type=_shape,
                     help="one example's shape without the batch dim, e.g. 1,28,28 (default: "
                          "the checkpoint's); the test inputs are reshaped to it")
    les.add_argument("--dataset", default="fashion",
                     help="data set whose test split is used (default fashion)")
    les.add_argument("--data-dir", type=Path, help="where dataset files are (or $MODCORE_DATA)")
    les.add_argument("--n-test", type=int, default=None,
                     help="use a random subset of this many test examples (default: all)")
    les.add_argument("--clusters", type=int, default=12, help="number of modules k (default 12)")
    les.add_argument("--random-lesions", type=int, default=50,
                     help="random same-size lesions per sub-module (default 50; candidates for "
                          "'important' get more, enough for the Bonferroni threshold)")
    les.add_argument("--min-drop", type=float, default=1.0,
                     help="smallest accuracy drop, in percentage points, for a sub-module to be "
                          "important (default 1)")
    les.add_argument("--alpha", type=float, default=0.05,
                     help="family-wise level, Bonferroni over the tested sub-modules (default 0.05)")
    les.add_argument("--rule", choices=("bonferroni", "paper"), default="bonferroni",
                     help="importance: bonferroni (the default), or the paper's (no random "
                          "lesion more harmful, ties count for the sub-module, > 12 units)")
    les.add_argument("--pairs", choices=("important", "all"), default="important",
                     help="double lesions of pairs of important sub-modules (default) or of all "
                          "pairs in different layers (quadratic cost)")
    les.add_argument("--preset", choices=("paper_cnn",),
                     help="cluster (and lesion) only the convolution channels, as the 2021 paper")
    les.add_argument("--no-double", action="store_true", help="skip the double-lesion study")
    les.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    les.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    les.add_argument("--report", type=Path,
                     help="write lesion_single.png, lesion_double.png and lesion.md here")
    les.add_argument("--json", type=Path, help="write the results as JSON here")
    les.add_argument("--quiet", action="store_true", help="no progress line")

    r = sub.add_parser("reproduce", help="the paper's experiment: train, prune and test many MLPs")
    r.add_argument("--datasets", default=None,
                   help="comma-separated, tried in order; absent ones are skipped "
                        "(default fashion,line,mnist,cifar10; with --quick: line)")
    r.add_argument("--seeds", type=int, default=None,
                   help="runs per data set and condition (default 5; --quick: 1)")
    r.add_argument("--shuffles", type=int, default=None,
                   help="size of each shuffle null (default 320; --quick: 20)")
    r.add_argument("--epochs", type=int, default=None,
                   help="epochs per phase: pruned runs train this many then prune this many, "
                        "unpruned runs train twice this many (default 20; --quick: 1)")
    r.add_argument("--out", type=Path, default=Path("results"),
                   help="directory of runs.jsonl, checkpoints/, table.csv, table.md, "
                        "summary.json, ncut.png (default results); finished runs in it are "
                        "skipped, so a stopped reproduction resumes")
    r.add_argument("--quick", action="store_true",
                   help="a small end-to-end run for CI: 1000 training / 500 test examples")
    r.add_argument("--clusters", type=int, default=12, help="number of modules k (default 12)")
    r.add_argument("--n-init", type=int, default=10, help="k-means restarts (default 10)")
    r.add_argument("--data-dir", type=Path, help="where dataset files are (or $MODCORE_DATA)")
    r.add_argument("--jobs", type=int, default=None, help="clustering threads (default: all cores)")
    r.add_argument("--max-runs", type=int, default=None,
                   help="stop after this many new runs (resume later with the same command)")
    r.add_argument("--lesions", action="store_true",
                   help="instead, the paper's lesion tests of the pruned networks (default data "
                        "set fashion; k=12, the paper's rule, 100 random lesions, --quick 10), "
                        "reusing OUT/checkpoints; results in OUT/lesions")
    return parser


def _shape(text: str) -> tuple:
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 1,28,28, got {text!r}") from None
    if not shape or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"sizes must be positive, got {text!r}")
    return shape


def _load_network(path: Path, input_shape=None):
    """The network in a weight file (a chain), or the traced model of a checkpoint."""
    from .network import Network
    from .weights import weights_from_module
    if not path.exists():
        raise UsageError(f"{path}: no such file")
    try:
        if input_shape is None:
            return Network.from_weights(weights_from_module(path))
        from .nn import checkpoint
        return Network.from_torch(checkpoint.load(path).model, input_shape=input_shape)
    except (ValueError, TypeError, ImportError) as exc:
        raise UsageError(str(exc)) from exc


def _check_plot_installed(args) -> None:
    """Fail before the work, not after it, when a report is asked for without matplotlib."""
    if args.report is not None and importlib.util.find_spec("matplotlib") is None:
        raise UsageError("the report needs matplotlib: pip install 'modcore[plot]'")


@contextlib.contextmanager
def _dask_client(address):
    """A dask.distributed.Client connected to ``address``; None when no address is given."""
    if not address:
        yield None
        return
    try:
        from dask.distributed import Client
    except ImportError as exc:
        raise UsageError("--scheduler needs Dask: pip install 'modcore[dask]'") from exc
    try:
        client = Client(address, timeout="30s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise UsageError(f"cannot connect to the Dask scheduler at {address}: {exc}") from exc
    try:
        yield client
    finally:
        client.close()


def _sweep(args, client) -> None:
    from .sweep import sweep

    # One directory alone: rows named by file name, as modcore.sweep(directory) does.
    networks = args.networks[0] if len(args.networks) == 1 else args.networks
    try:
        table = sweep(networks, n_clusters=args.clusters, n_shuffles=args.shuffles,
                      shuffle=args.shuffle or ["layer"], n_init=args.n_init, seed=args.seed,
                      n_jobs=args.jobs, progress=not args.quiet, client=client,
                      results_path=args.out)
    except (ValueError, TypeError, FileNotFoundError, ImportError) as exc:
        raise UsageError(str(exc)) from exc
    columns = ["name", "shuffle", "ncut", "shuffled_mean", "shuffled_std", "z_score", "p_value"]
    print(table[columns].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if args.out:
        print(f"results in {args.out}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        table.to_json(args.json, orient="records", indent=1)
        print(f"results written to {args.json}")


def _analyze(network, args, extra: dict, client=None) -> dict:
    from .report import summary, write_report

    significances = {}
    for shuffle in args.shuffle or ["layer"]:
        try:
            significances[shuffle] = ncut_significance(
                network, n_clusters=args.clusters, n_shuffles=args.shuffles, shuffle=shuffle,
                n_init=args.n_init, seed=args.seed, n_jobs=args.jobs, progress=not args.quiet,
                client=client)
        except (ValueError, TypeError) as exc:
            raise UsageError(str(exc)) from exc
    results = summary(network, significances, extra)
    _print_table(results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))
        print(f"results written to {args.json}")
    if args.report is not None:
        print(f"report written to {write_report(args.report, network, significances, extra)}")
    return results


def _print_table(results: dict) -> None:
    sizes = "-".join(str(s) for s in results["layer_sizes"])
    print(f"network {results['network']} ({sizes}), k={results['n_clusters']}, "
          f"n-cut {results['ncut']:.4f}")
    print(f"{'shuffle':28s} {'N':>6s} {'mean':>8s} {'std':>8s} {'z':>8s} {'p':>8s}")
    for name, r in results["nulls"].items():
        print(f"{name:28s} {r['n_shuffles']:6d} {r['shuffled_mean']:8.4f} "
              f"{r['shuffled_std']:8.4f} {r['z_score']:8.2f} {r['p_value']:8.4f}")


def _lesion(args) -> dict:
    try:
        import torch
    except ImportError as exc:
        raise UsageError("lesion tests need torch: pip install 'modcore[torch]'") from exc
    from .nn import checkpoint, load_dataset
    from .nn.lesion import lesion_study

    if args.threads is not None:
        if args.threads < 1:
            raise UsageError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    try:
        saved = checkpoint.load(args.network)
        model = saved.model
        shape = args.input_shape or tuple(model.input_shape)
        # Only the test split is used; n_train=1 avoids holding the training set.
        data = load_dataset(args.dataset, data_dir=args.data_dir, seed=args.seed,
                            n_train=1, n_test=args.n_test, flatten=len(shape) == 1)
        test = data
        if data.input_shape != shape:
            if math.prod(data.input_shape) != math.prod(shape):
                raise UsageError(f"{data.name} has inputs of shape {data.input_shape}, which do "
                                 f"not reshape to --input-shape {','.join(map(str, shape))}")
            test = (data.x_test.reshape(-1, *shape), data.y_test)
        study = lesion_study(model, test, n_clusters=args.clusters,
                             random_lesions=args.random_lesions, seed=args.seed,
                             double=not args.no_double, progress=not args.quiet,
                             alpha=args.alpha, min_drop=args.min_drop / 100, rule=args.rule,
                             pair_set=args.pairs, preset=args.preset)
    except (FileNotFoundError, ValueError, TypeError) as exc:
        raise UsageError(str(exc)) from exc
    print(study.table())
    print(f"wall time {study.seconds['total']:.1f} s, lesions evaluated {study.n_masks}")
    results = {"network": str(args.network), "arch": saved.arch, "dataset": data.name,
               "modcore": __version__, **study.to_dict()}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))
        print(f"results written to {args.json}")
    if args.report:
        try:
            from .nn.lesion.plot import save_figures
            figures = save_figures(study, args.report)
        except ImportError as exc:
            raise UsageError(str(exc)) from exc
        images = "".join(f"![{p.stem}]({p.name})\n\n" for p in figures)
        (args.report / "lesion.md").write_text(
            f"## Lesion tests: {args.network}\n\n{study.to_markdown()}\n\n{images}")
        print(f"figures and lesion.md written to {args.report}")
    return results


def _train(args) -> dict:
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise UsageError("training needs torch: pip install 'modcore[torch]'") from exc
    from .nn import CNN, MLP, RECIPES, checkpoint, load_dataset, paper_recipe, train

    if args.arch == "cnn" and args.widths is not None:
        raise UsageError("--widths sets the MLP's layers; it does not apply to --arch cnn")
    if args.arch == "mlp" and args.conv_dropout:
        raise UsageError("--conv-dropout applies to --arch cnn only")
    recipe = RECIPES[args.arch]
    epochs = recipe["epochs"] if args.epochs is None else args.epochs
    prune_epochs = epochs if args.prune_epochs is None else args.prune_epochs
    batch_size = recipe["batch_size"] if args.batch_size is None else args.batch_size
    try:
        data = load_dataset(args.dataset, data_dir=args.data_dir, seed=args.seed,
                            n_train=args.n_train, n_test=args.n_test,
                            flatten=args.arch == "mlp")
        if args.arch == "cnn":
            model = CNN(data.input_shape, n_classes=data.n_classes, conv_dropout=args.conv_dropout,
                        dense_dropout=args.dropout, seed=args.seed)
        else:
            widths = [int(w) for w in (args.widths or "784,256,256,256,256,10").split(",")]
            if widths[0] != data.n_features:
                raise UsageError(f"--widths starts with {widths[0]} inputs but {data.name} has "
                                 f"{data.n_features}")
            model = MLP(widths, dropout=args.dropout, seed=args.seed)
    except (ValueError, FileNotFoundError) as exc:
        raise UsageError(str(exc)) from exc
    print(f"training a {args.arch} ({_describe(model.config)}) on {data.name} ({data.source}), "
          f"{len(data.y_train)} training examples")
    try:
        if args.prune > 0:
            if args.prune != 0.9:
                raise UsageError("--prune must be 0.9 (the paper's schedule) or 0")
            history = paper_recipe(model, data, epochs=epochs, prune_epochs=prune_epochs,
                                   batch_size=batch_size, seed=args.seed, progress=not args.quiet)
        else:
            history = train(model, data, epochs=epochs, batch_size=batch_size, seed=args.seed,
                            progress=not args.quiet)
    except (ValueError, TypeError) as exc:
        raise UsageError(str(exc)) from exc
    meta = {"arch": args.arch, **model.config, "dataset": data.name,
            "data_source": data.source, "n_train": len(data.y_train),
            "n_test": len(data.y_test), "sparsity": args.prune,
            "train_accuracy": history.train_accuracy[-1],
            "test_accuracy": history.test_accuracy[-1], "seed": history.seed,
            "epochs": epochs, "prune_epochs": prune_epochs if args.prune > 0 else 0,
            "batch_size": batch_size}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    checkpoint.save(model, args.out, meta)
    print(f"train accuracy {meta['train_accuracy']:.4f}, test accuracy "
          f"{meta['test_accuracy']:.4f}; saved {args.out}")
    return meta


def _describe(config: dict) -> str:
    """A model's config on one line: ``widths 784-16-10, dropout 0.0``."""
    return ", ".join(
        f"{key.replace('_', ' ')} {'-'.join(map(str, v)) if isinstance(v, list) else v}"
        for key, v in config.items())


def _reproduce(args, extra: dict) -> None:
    missing = [m for m in ("torch", "pandas") if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(f"reproduce needs {' and '.join(missing)}: "
                         "pip install 'modcore[torch]'")
    from .reproduce import reproduce

    datasets = None
    if args.datasets is not None:
        datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
        if not datasets:
            raise UsageError("--datasets is empty")
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs must be >= 1, got {args.jobs}")
    if args.lesions:
        if args.shuffles is not None:
            raise UsageError("--shuffles does not apply to --lesions")
        from .reproduce_lesions import reproduce_lesions
        try:
            reproduce_lesions(datasets=datasets, seeds=args.seeds, epochs=args.epochs,
                              out=args.out, quick=args.quick, n_clusters=args.clusters,
                              n_init=args.n_init, data_dir=args.data_dir, n_jobs=args.jobs,
                              max_runs=args.max_runs, command=extra["command"])
        except (ValueError, TypeError) as exc:
            raise UsageError(str(exc)) from exc
        return
    try:
        reproduce(datasets=datasets, seeds=args.seeds, n_shuffles=args.shuffles,
                  epochs=args.epochs, out=args.out, quick=args.quick, n_clusters=args.clusters,
                  n_init=args.n_init, data_dir=args.data_dir, n_jobs=args.jobs,
                  max_runs=args.max_runs, command=extra["command"])
    except (ValueError, TypeError) as exc:
        raise UsageError(str(exc)) from exc


def _demo(args, extra: dict) -> None:
    fashion = Path("/usr/share/datasets/fashion-mnist")
    dataset = "fashion" if fashion.is_dir() and any(fashion.iterdir()) else "line"
    print(f"demo data set: {dataset}" + (" (Debian's dataset-fashion-mnist)" if dataset == "fashion"
                                         else " (synthetic; install dataset-fashion-mnist for real data)"))
    args.report = args.out
    args.shuffle = args.shuffle or ["layer", "layer_nonzero"]
    _check_plot_installed(args)
    net = args.out / "net.pt"
    train_args = argparse.Namespace(
        arch="mlp", dataset=dataset, data_dir=None, widths="784,256,256,256,256,10",
        epochs=args.epochs, prune_epochs=args.epochs, batch_size=None, prune=0.9, dropout=0.0,
        conv_dropout=0.0, n_train=args.n_train, n_test=None, seed=args.seed, out=net,
        quiet=args.quiet)
    extra["training"] = _train(train_args)
    extra["network"] = str(net)
    _analyze(_load_network(net), args, extra)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    args = _parser().parse_args(argv)
    # What summary.json keeps to redo the run: the command as typed and every option's value.
    extra = {"command": shlex.join(["modcore", *argv]),
             "arguments": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}}
    try:
        if args.command == "analyze":
            _check_plot_installed(args)
            extra["network"] = str(args.network)
            network = _load_network(args.network, args.input_shape)
            with _dask_client(args.scheduler) as client:
                _analyze(network, args, extra, client=client)
        elif args.command == "lesion":
            _lesion(args)
        elif args.command == "sweep":
            with _dask_client(args.scheduler) as client:
                _sweep(args, client)
        elif args.command == "train":
            _train(args)
        elif args.command == "reproduce":
            _reproduce(args, extra)
        else:
            _demo(args, extra)
    except UsageError as exc:
        print(f"modcore: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("modcore: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
