"""The ``modcore`` command: train, analyze, sweep, lesion, reproduce, demo."""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import math
import shlex
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

from . import __version__
from .cluster import ASSIGN_LABELS, DROPS, MAX_CLUSTERS, MAX_INIT, SELECT_BY
from .files import atomic_write
from .io import check_n_jobs
from .progress import end_open_line
from .significance import MAX_SHUFFLES, SHUFFLES, ncut_significance
from .transformer import VIEWS
from .verdict import ALPHA, k_choice, null_description, verdict, verdict_over_k


class UsageError(Exception):
    """A problem with the user's input: one line on stderr, exit code 2."""


# What a run can fail with because of its input, its settings or the machine (a
# bad file, a refused parameter, a full disk, a missing extra, not enough
# memory, an eigensolver that did not converge): one line on stderr and exit 2,
# from the one handler in main(). Anything else is a bug and keeps its traceback.
_EXPECTED_ERRORS = (
    UsageError,
    ValueError,
    TypeError,
    OSError,
    ImportError,
    MemoryError,
    RuntimeError,
)


def _one_line(exc: BaseException) -> str:
    # cli_message: the same message for the command (DatasetNotFoundError names --data-dir).
    cli_message = getattr(exc, "cli_message", None)
    if cli_message:
        text = cli_message
    elif isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        text = f"{exc.filename}: {exc.strerror}"
    elif isinstance(exc, MemoryError):
        text = f"not enough memory ({exc})" if str(exc) else "not enough memory"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line (not the usage block, then the error)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def _integer(low: int, high: int | None = None):
    """An argparse type: an int in [low, high]."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low or (high is not None and value > high):
            bound = f">= {low}" if high is None else f"in [{low}, {high}]"
            raise argparse.ArgumentTypeError(f"expected an integer {bound}, got {value}")
        return value

    return parse


def _fraction(*, closed_low: bool, top: float = 1.0):
    """An argparse type: a float in [0, top) (or (0, top) when not closed_low)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not ((0 <= value if closed_low else 0 < value) and value < top):
            interval = f"{'[' if closed_low else '('}0, {top:g})"
            raise argparse.ArgumentTypeError(f"expected a number in {interval}, got {text}")
        return value

    return parse


def _widths(text: str) -> list:
    """An argparse type: comma-separated positive layer widths, at least two."""
    try:
        widths = [int(w) for w in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers such as 784,256,10, got {text!r}"
        ) from None
    if len(widths) < 2 or min(widths) < 1:
        raise argparse.ArgumentTypeError(
            f"expected at least two positive widths (inputs first), got {text!r}"
        )
    return widths


# The demo tests its network against both of the 2020 paper's nulls.
DEMO_SHUFFLES = ("layer", "layer_nonzero")
# What the demo's stand-in for Fashion-MNIST is, wherever it says it runs on it.
DEMO_SYNTHETIC = (
    "synthetic: five independent two-class tasks side by side, so a network that learns "
    "it has modules by construction; it shows the method at work, not the paper's finding"
)

_SEED = _integer(0, 2**63 - 1)
_COUNT = _integer(1)


def _output_file(text: str) -> Path:
    """An argparse type for every option naming a file to write: it must go in a
    folder that exists (nothing is created on the way), and not be a folder itself or
    another kind of non-regular file (a device, a FIFO, a socket)."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{path}: is a directory; expected a file name")
    if path.exists() and not path.is_file():
        raise argparse.ArgumentTypeError(f"{path}: exists and is not a regular file")
    _check_folder(path.parent, path)
    return path


def _output_dir(text: str) -> Path:
    """An argparse type for every option naming a directory to write into: an existing
    one, or a new one in a folder that exists (only the last name is created)."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{path}: exists and is not a directory")
    _check_folder(path if path.is_dir() else path.parent, path)
    return path


def _check_folder(folder: Path, path: Path) -> None:
    if not folder.is_dir():
        problem = "is not a directory" if folder.exists() else "does not exist; create it first"
        raise argparse.ArgumentTypeError(f"{path}: {folder} {problem}")
    try:  # by trying: permissions alone miss read-only mounts, /proc, and root's view
        with tempfile.TemporaryFile(dir=folder, prefix=".modcore-probe-"):
            pass
    except OSError as exc:
        raise argparse.ArgumentTypeError(
            f"{path}: cannot write in {folder} ({exc.strerror or exc})"
        ) from exc


def _option(p: argparse.ArgumentParser, flag: str, *old: str, **kwargs) -> None:
    """An option spelled like the Python parameter it sets (``--n-clusters`` for
    ``n_clusters``); the ``old`` spellings still work, unlisted in --help."""
    action = p.add_argument(flag, **kwargs)
    for alias in old:
        p.add_argument(
            alias,
            dest=action.dest,
            type=kwargs.get("type", str),
            default=argparse.SUPPRESS,
            help=argparse.SUPPRESS,
        )


def _add_analysis_options(
    p: argparse.ArgumentParser, shuffles: int, default_shuffles=("layer",)
) -> None:
    _option(
        p,
        "--n-clusters",
        "--clusters",
        type=_clusters,
        default=12,
        help="number of modules k (default 12); analyze also takes 'auto' (the "
        "eigengap's suggestion, with the verdict at k - 1 and k + 1 too) and a range "
        "such as 2:20 (the n-cut against its null at every k; the verdict is corrected "
        "for choosing the best k)",
    )
    _option(
        p,
        "--n-shuffles",
        "--shuffles",
        type=_integer(1, MAX_SHUFFLES),
        default=shuffles,
        help=f"size of the shuffle null (default {shuffles})",
    )
    p.add_argument(
        "--shuffle",
        choices=SHUFFLES,
        action="append",
        help=f"shuffle method; repeat for several (default: {' and '.join(default_shuffles)})",
    )
    _add_rule_options(p)
    _add_graph_options(p)
    p.add_argument("--seed", type=_SEED, default=0, help="random seed (default 0)")
    _option(
        p,
        "--n-jobs",
        "--jobs",
        type=_COUNT,
        default=None,
        help="threads (default: all cores; more are capped at the cores)",
    )
    p.add_argument("--json", type=_output_file, help="write the results as JSON here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_rule_options(p: argparse.ArgumentParser) -> None:
    """How the embedding becomes modules (modcore.spectral_cluster's parameters)."""
    p.add_argument(
        "--assign-labels",
        choices=ASSIGN_LABELS,
        default="cluster_qr",
        help="cluster_qr (default; depends on the network alone, not on the seed or "
        "the order of units) or kmeans (restarts; with --no-refine --n-init 25 the "
        "authors' rule)",
    )
    p.add_argument(
        "--refine",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="move single units while that lowers the n-cut (default: yes)",
    )
    _option(
        p,
        "--n-init",
        type=_integer(1, MAX_INIT),
        default=10,
        help="k-means restarts with --assign-labels kmeans (default 10)",
    )
    p.add_argument(
        "--select-by",
        choices=SELECT_BY,
        default="inertia",
        help="the k-means restart kept: lowest inertia (default) or n-cut",
    )


def _add_graph_options(p: argparse.ArgumentParser) -> None:
    """How a network of weights (and each shuffled one) becomes the graph: drop, normalize."""
    p.add_argument(
        "--drop",
        choices=DROPS,
        default="isolated",
        help="units left out of the graph: isolated, those without edges (default; the "
        "paper's code), or unreachable, also every component that misses the first or "
        "the last layer (the authors' PyTorch port); the network and every shuffle alike",
    )
    p.add_argument(
        "--normalize",
        choices=("none", "rescale"),
        default="none",
        help="rescale: give each hidden unit's incoming weights norm 1 and move the "
        "factor to its outgoing weights before clustering, as the authors' PyTorch port "
        "does (the network computes the same function); default none",
    )


def _rule(args) -> dict:
    return dict(
        assign_labels=args.assign_labels,
        refine=args.refine,
        n_init=args.n_init,
        select_by=args.select_by,
    )


def _graph_options(args) -> dict:
    return dict(drop=args.drop, normalize=None if args.normalize == "none" else args.normalize)


def _add_scheduler_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run the shuffles on the Dask cluster at this scheduler address, "
        "e.g. tcp://host:8786 (needs modcore[dask] here and on the workers)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="modcore",
        description="How modular is a trained neural network?",
        epilog="Options are spelled like the Python parameters they set (--n-clusters for "
        "n_clusters); the older --clusters, --shuffles, --jobs and --threads still work.",
    )
    parser.add_argument("--version", action="version", version=f"modcore {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    a = sub.add_parser("analyze", help="cluster a network and test it against shuffles")
    a.add_argument(
        "network",
        type=Path,
        help="weights (.pt/.pth, .safetensors or .npz), a modcore checkpoint, or a "
        "Hugging Face GPT-2 folder (save_pretrained: config.json, model.safetensors) with --view",
    )
    _add_analysis_options(a, shuffles=1000)
    a.add_argument(
        "--view",
        choices=VIEWS,
        help="the unit graph of a transformer (docs: Transformers): blocks = each MLP alone, "
        "a table per MLP; virtual = tokens, positions, heads, neurons and logits joined "
        "through the residual stream",
    )
    a.add_argument(
        "--top-k",
        type=_integer(1, 2**31 - 1),
        help="with --view virtual: keep each unit's top-k edges to every later group "
        "(ties included; default: all)",
    )
    a.add_argument(
        "--input-shape",
        type=_shape,
        help="trace the checkpoint's model with inputs of this shape, without "
        "the batch dimension, e.g. 1,28,28 (for CNNs and residual nets)",
    )
    a.add_argument(
        "--report",
        type=_output_dir,
        help="write summary.json, figures and index.html to this directory",
    )
    _add_scheduler_option(a)

    s = sub.add_parser("sweep", help="test many networks; one table row per network and shuffle")
    s.add_argument(
        "networks",
        nargs="+",
        type=Path,
        help="weight files (.pt/.pth, .safetensors, .npz) or directories of them",
    )
    _add_analysis_options(s, shuffles=1000)
    s.add_argument(
        "--out",
        type=_output_file,
        help="results file (.csv or .jsonl): rows are appended as networks finish, "
        "and networks already in it are skipped, so a stopped sweep resumes",
    )
    s.add_argument(
        "--csv",
        type=_output_file,
        help="write the final table as CSV here, with p_value_bh (Benjamini-Hochberg "
        "over the table's rows per shuffle method), which --out does not hold",
    )
    _add_scheduler_option(s)

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
    les.add_argument(
        "--dataset", default="fashion", help="data set whose test split is used (default fashion)"
    )
    les.add_argument("--data-dir", type=Path, help="where dataset files are (or $MODCORE_DATA)")
    les.add_argument(
        "--n-test",
        type=_COUNT,
        default=None,
        help="use a random subset of this many test examples (default: all)",
    )
    _option(
        les,
        "--n-clusters",
        "--clusters",
        type=_integer(2, MAX_CLUSTERS),
        default=12,
        help="number of modules k (default 12)",
    )
    les.add_argument(
        "--random-lesions",
        type=_COUNT,
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
    les.add_argument(
        "--pairs",
        choices=("important", "all"),
        default="important",
        help="double lesions of pairs of important sub-modules (default) or of all "
        "pairs in different layers (quadratic cost)",
    )
    les.add_argument(
        "--preset",
        choices=("paper_cnn",),
        help="cluster (and lesion) only the convolution channels, as the 2021 paper",
    )
    les.add_argument("--no-double", action="store_true", help="skip the double-lesion study")
    les.add_argument("--seed", type=_SEED, default=0, help="random seed (default 0)")
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
    _option(
        r,
        "--n-clusters",
        "--clusters",
        type=_integer(2, MAX_CLUSTERS),
        default=12,
        help="number of modules k (default 12)",
    )
    _option(
        r,
        "--n-init",
        type=_integer(1, MAX_INIT),
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
    from .cli_functional import add_functional_parser

    add_functional_parser(sub)
    return parser


def _clusters(text: str):
    """--n-clusters: an int, "auto", or an inclusive range "a:b" (as range(a, b + 1))."""
    if text == "auto":
        return text
    expected = f"expected a number of modules in [2, {MAX_CLUSTERS}], 'auto' or a range like 2:20"
    try:
        if ":" in text:
            low, high = (int(part) for part in text.split(":"))
        else:
            low = high = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{expected}, got {text!r}") from None
    for k in (low, high):
        if not 2 <= k <= MAX_CLUSTERS:
            raise argparse.ArgumentTypeError(
                f"{expected}, got {text!r}: {k} is not in [2, {MAX_CLUSTERS}]"
            )
    if ":" not in text:
        return low
    if low == high:
        raise argparse.ArgumentTypeError(
            f"{expected}, got {text!r}: a range holds at least two k; for one k write {low}"
        )
    if low > high:
        raise argparse.ArgumentTypeError(
            f"{expected}, got {text!r}: a range goes from low to high; did you mean {high}:{low}?"
        )
    return range(low, high + 1)


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
    from .network import Network, as_network

    if not path.exists():
        raise UsageError(f"{path}: no such file")
    if input_shape is None:
        return as_network(path)
    from .nn import checkpoint

    return Network.from_torch(checkpoint.load(path).model, input_shape=input_shape)


def _load_transformer(args) -> dict:
    """``{None: network}`` for --view virtual, ``{MLP name: network}`` for blocks."""
    from .transformer import block_networks, virtual_network
    from .transformer.read_gpt2 import load_gpt2

    if not args.network.is_dir():
        raise UsageError(
            f"{args.network}: --view and --top-k read a Hugging Face GPT-2 folder "
            "(config.json, model.safetensors), not a file"
        )
    if args.view is None:
        raise UsageError(
            f"{args.network} is a folder: a transformer needs --view blocks (each MLP alone) "
            "or --view virtual (units joined through the residual stream)"
        )
    if args.top_k is not None and args.view != "virtual":
        raise UsageError("--top-k applies to --view virtual")
    if args.input_shape is not None:
        raise UsageError("--input-shape applies to traced models, not to a transformer")
    model = load_gpt2(args.network)
    if args.view == "virtual":
        return {None: virtual_network(model, top_k=args.top_k)}
    return block_networks(model)


def _analyze_views(networks: dict, args, extra: dict, client=None) -> None:
    """The one network of --view virtual, or each MLP of --view blocks in turn: a table
    per MLP, --json holding them all, --report a folder per MLP."""
    extra["view"] = args.view
    if None in networks:
        extra["top_k"] = args.top_k
        _analyze(networks[None], args, extra, client=client)
        return
    results = {}
    for i, (name, network) in enumerate(networks.items()):
        print(f"== MLP {name} ({i + 1} of {len(networks)}) ==")
        report = None if args.report is None else args.report / f"{i:03d}-{name}"
        one = argparse.Namespace(**{**vars(args), "json": None, "report": report})
        results[name] = _analyze(network, one, {**extra, "block": name}, client=client)
    if args.json:
        with atomic_write(args.json) as f:
            f.write(json.dumps({"view": "blocks", "blocks": results}, indent=1))
        print(f"results written to {args.json}")


# Options naming what a command writes (files, or folders for reproduce/demo/--report).
_OUTPUTS = ("out", "json", "csv", "report")


def _check_inputs(args) -> None:
    """Inputs that cannot be read, and outputs that would clash (with an input or with
    each other), fail here before any computation (each output path is checked alone as
    the options are parsed: _output_file, _output_dir)."""
    outputs = [(f"--{d}", getattr(args, d)) for d in _OUTPUTS if getattr(args, d, None)]
    inputs = [args.network] if getattr(args, "network", None) else []
    inputs += getattr(args, "networks", [])
    for i, (flag, path) in enumerate(outputs):
        for other, earlier in outputs[:i]:
            if path.resolve() == earlier.resolve():
                what = "results file" if other == "--out" and args.command == "sweep" else "file"
                raise UsageError(
                    f"{flag} {path} is the {other} {what}: one would replace the other"
                )
        for source in inputs:
            if path.resolve() == source.resolve():
                raise UsageError(f"{flag} {path} is the input {source}: it would be replaced")
    for path in getattr(args, "networks", []):
        if not path.exists():
            raise UsageError(f"{path}: no such file or directory")
        if not (path.is_file() or path.is_dir()):  # a FIFO would block the sweep in open()
            raise UsageError(f"{path}: not a regular file or a directory")


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
    table = sweep(
        networks,
        n_clusters=args.n_clusters,
        n_shuffles=args.n_shuffles,
        shuffle=args.shuffle or ["layer"],
        **_rule(args),
        **_graph_options(args),
        seed=args.seed,
        n_jobs=args.n_jobs,
        progress=not args.quiet,
        client=client,
        results_path=args.out,
    )
    columns = [
        "name",
        "shuffle",
        "ncut",
        "shuffled_mean",
        "shuffled_std",
        "z_score",
        "p_value",
        "p_value_bh",
    ]
    print(table[columns].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print("p_value_bh: Benjamini-Hochberg adjusted over the rows of each shuffle method")
    if args.out:
        print(f"results in {args.out}")
    if args.csv:
        with atomic_write(args.csv) as f:
            table.to_csv(f, index=False)  # floats written with repr: they read back exactly
        print(f"table written to {args.csv}")
    if args.json:
        # Python's json, not pandas' to_json, which rounds floats to 10 digits; non-finite
        # values as the strings "inf" / "-inf" / "nan", as Significance.to_dict does.
        records = [
            {
                k: v if not isinstance(v, float) or math.isfinite(v) else str(v)
                for k, v in row.items()
            }
            for row in table.to_dict(orient="records")
        ]
        with atomic_write(args.json) as f:
            f.write(json.dumps(records, indent=1, allow_nan=False))
        print(f"results written to {args.json}")


def _choose_clusters(network, args, extra: dict):
    """The k to analyze, and the n-cut curves: over the range of --n-clusters a:b, or over
    the eigengap's k and its neighbours for --n-clusters auto."""
    from .analysis import EigengapWarning, eigengap

    if args.n_clusters == "auto":
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", EigengapWarning)
            gap = eigengap(network, **_graph_options(args), seed=args.seed)
        extra["eigengap"] = gap.to_dict()
        print(
            f"--n-clusters auto: the eigengap suggests k = {gap.k} (relative gap "
            f"{gap.relative_gaps[gap.k - 2]:.3f}); the verdict is shown at its neighbours too"
        )
        for w in caught:
            print(f"note: {w.message}")
        return gap.k, _curves(network, args, range(max(2, gap.k - 1), gap.k + 2))
    if isinstance(args.n_clusters, range):
        curves = _curves(network, args, args.n_clusters)
        name, first = next(iter(curves.items()))
        print(
            f"{'k':>3s} {'n-cut':>8s} {'mean':>8s} {'std':>8s} {'z':>8s} {'p uncorr.':>10s} "
            f"{'Q':>7s}   ({name} null)"
        )
        for sig in first.significances:
            print(
                f"{sig.n_clusters:3d} {sig.ncut:8.4f} {sig.shuffled_mean:8.4f} "
                f"{sig.shuffled_std:8.4f} {sig.z_score:8.2f} {sig.p_value:10.4f} "
                f"{sig.modularity:7.4f}"
            )
        k = first.best_k
        print(
            f"details below for k = {k}, the lowest uncorrected p-value against the '{name}' "
            "null (ties: lowest z, then smallest k); the verdict over k is corrected for "
            "that choice"
        )
        return k, curves
    return args.n_clusters, None


def _curves(network, args, ks) -> dict:
    from .analysis import ncut_curve

    return {
        shuffle: ncut_curve(
            network,
            ks=ks,
            n_shuffles=args.n_shuffles,
            shuffle=shuffle,
            **_rule(args),
            **_graph_options(args),
            seed=args.seed,
            n_jobs=args.n_jobs,
            progress=not args.quiet,
        )
        for shuffle in args.shuffle or ["layer"]
    }


def _analyze(network, args, extra: dict, client=None) -> dict:
    from .report import summary, write_report

    k, curves = _choose_clusters(network, args, extra)
    if curves:  # the curve has each null at k already
        significances = {name: c.significance(k) for name, c in curves.items()}
    else:
        significances = {}
    for shuffle in [] if curves else args.shuffle or ["layer"]:
        significances[shuffle] = ncut_significance(
            network,
            n_clusters=k,
            n_shuffles=args.n_shuffles,
            shuffle=shuffle,
            **_rule(args),
            **_graph_options(args),
            seed=args.seed,
            n_jobs=args.n_jobs,
            progress=not args.quiet,
            client=client,
        )
    results = summary(network, significances, extra, curves=curves)
    _print_table(results)
    if args.json:
        with atomic_write(args.json) as f:
            f.write(json.dumps(results, indent=1))
        print(f"results written to {args.json}")
    if args.report is not None:
        index = write_report(args.report, network, significances, extra, curves=curves)
        print(f"report written to {index}")
    return results


def _print_table(results: dict) -> None:
    sizes = "-".join(str(s) for s in results["layer_sizes"])
    print(
        f"network {results['network']} ({sizes}), k={results['n_clusters']}, "
        f"n-cut {results['ncut']:.4f}, Newman's Q {results['modularity']:.4f}"
    )
    print(f"{'shuffle':28s} {'N':>6s} {'mean':>8s} {'std':>8s} {'z':>8s} {'p':>8s}")
    for name, r in results["nulls"].items():
        # float(): an infinite z-score (a null with no spread) is the string "inf" in JSON,
        # and one shuffle's std and z-score "nan".
        print(
            f"{name:28s} {r['n_shuffles']:6d} {r['shuffled_mean']:8.4f} "
            f"{float(r['shuffled_std']):8.4f} {float(r['z_score']):8.2f} {r['p_value']:8.4f}"
        )
    print(f"verdict (one-sided, {ALPHA:.0%} level: is the n-cut lower than the shuffles'?):")
    print(f"  how k was chosen: {k_choice(results)}")
    curves = results.get("curves") or {}
    k = results["n_clusters"]
    if curves and "eigengap" not in results:
        for c in curves.values():
            print(f"  over k: {verdict_over_k(c)}")
        print(f"  at k = {k} alone (p uncorrected for choosing k):")
    for r in results["nulls"].values():
        print(f"  {verdict(r)}\n    {null_description(r['shuffle'])}")
    if curves and "eigengap" in results:
        print("  at the neighbouring k (each p uncorrected):")
        for c in curves.values():
            for r in c["per_k"]:
                if r["n_clusters"] != k:
                    print(f"    k = {r['n_clusters']}: {verdict(r)}")
        for c in curves.values():
            print(f"  over these k: {verdict_over_k(c)}")


def _lesion(args) -> dict:
    try:
        import torch
    except ImportError as exc:
        raise UsageError("lesion tests need torch: pip install 'modcore[torch]'") from exc
    from .nn import checkpoint, load_dataset
    from .nn.lesion import lesion_study

    if args.n_jobs is not None:
        torch.set_num_threads(check_n_jobs(args.n_jobs))
    saved = checkpoint.load(args.network)
    model = saved.model
    shape = args.input_shape or tuple(model.input_shape)
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
    if data.input_shape != shape:
        if math.prod(data.input_shape) != math.prod(shape):
            raise UsageError(
                f"{data.name} has inputs of shape {data.input_shape}, which do "
                f"not reshape to --input-shape {','.join(map(str, shape))}"
            )
        test = (data.x_test.reshape(-1, *shape), data.y_test)
    study = lesion_study(
        model,
        test,
        n_clusters=args.n_clusters,
        random_lesions=args.random_lesions,
        seed=args.seed,
        double=not args.no_double,
        progress=not args.quiet,
        alpha=args.alpha,
        min_drop=args.min_drop / 100,
        rule=args.rule,
        pair_set=args.pairs,
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
        with atomic_write(args.json) as f:
            f.write(json.dumps(results, indent=1))
        print(f"results written to {args.json}")
    if args.report:
        from .nn.lesion.plot import save_figures

        figures = save_figures(study, args.report)
        images = "".join(f"![{p.stem}]({p.name})\n\n" for p in figures)
        with atomic_write(args.report / "lesion.md") as f:
            f.write(f"## Lesion tests: {args.network}\n\n{study.to_markdown()}\n\n{images}")
        print(f"figures and lesion.md written to {args.report}")
    return results


def _training_data(args):
    """The data set ``modcore train`` (or the demo) trains on, as its options say."""
    from .nn import load_dataset

    return load_dataset(
        args.dataset,
        data_dir=args.data_dir,
        seed=args.seed,
        n_train=args.n_train,
        n_test=args.n_test,
        flatten=args.arch == "mlp",
    )


def _train(args, data=None) -> dict:
    """``modcore train``: on ``data`` if given (loaded by :func:`_training_data`)."""
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise UsageError("training needs torch: pip install 'modcore[torch]'") from exc
    from .nn import CNN, DEFAULT_WIDTHS, MLP, RECIPES, checkpoint, paper_recipe, train

    if args.prune not in (0, 0.9):  # before loading data and training
        raise UsageError(f"--prune must be 0.9 (the paper's schedule) or 0, got {args.prune}")
    if args.arch == "cnn" and args.widths is not None:
        raise UsageError("--widths sets the MLP's layers; it does not apply to --arch cnn")
    if args.arch == "mlp" and args.conv_dropout:
        raise UsageError("--conv-dropout applies to --arch cnn only")
    recipe = RECIPES[args.arch]
    epochs = recipe["epochs"] if args.epochs is None else args.epochs
    prune_epochs = epochs if args.prune_epochs is None else args.prune_epochs
    batch_size = recipe["batch_size"] if args.batch_size is None else args.batch_size
    if data is None:
        data = _training_data(args)
    model: MLP | CNN
    if args.arch == "cnn":
        model = CNN(
            data.input_shape,
            n_classes=data.n_classes,
            conv_dropout=args.conv_dropout,
            dense_dropout=args.dropout,
            seed=args.seed,
        )
    else:
        widths = args.widths or list(DEFAULT_WIDTHS)
        if widths[0] != data.n_features:
            raise UsageError(
                f"--widths starts with {widths[0]} inputs but {data.name} has {data.n_features}"
            )
        model = MLP(widths, dropout=args.dropout, seed=args.seed)
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
        )
    else:
        history = train(
            model,
            data,
            epochs=epochs,
            batch_size=batch_size,
            seed=args.seed,
            progress=not args.quiet,
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
    }
    checkpoint.save(model, args.out, meta)
    print(
        f"test accuracy {meta['test_accuracy']:.4f} (the saved network, eval mode); last "
        f"epoch's batch accuracy {meta['train_accuracy']:.4f}; saved {args.out}"
    )
    return meta


def _describe(config: dict) -> str:
    """A model's config on one line: ``widths 784-16-10, dropout 0.0``."""
    return ", ".join(
        f"{key.replace('_', ' ')} {'-'.join(map(str, v)) if isinstance(v, list) else v}"
        for key, v in config.items()
    )


def _reproduce(args, extra: dict) -> None:
    missing = [m for m in ("torch", "pandas") if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(f"reproduce needs {' and '.join(missing)}: pip install 'modcore[torch]'")
    from .reproduce import reproduce

    datasets = None
    if args.datasets is not None:
        datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
        if not datasets:
            raise UsageError("--datasets is empty")
    if args.lesions:
        if args.n_shuffles is not None:
            raise UsageError("--n-shuffles does not apply to --lesions")
        if args.arch != "mlp":
            raise UsageError(
                "--lesions reproduces the lesion tests of the MLPs; use "
                "'modcore lesion' on a CNN checkpoint"
            )
        if args.device != "cpu":
            raise UsageError("--device does not apply to --lesions (it trains on the CPU)")
        from .reproduce_lesions import reproduce_lesions

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


def _demo(args, extra: dict) -> None:
    if importlib.util.find_spec("torch") is None:
        raise UsageError(
            "the demo trains a network, which needs torch: pip install 'modcore[torch]'"
        )
    from .nn import DatasetNotFoundError

    args.report = args.out
    args.shuffle = args.shuffle or list(DEMO_SHUFFLES)
    _check_plot_installed(args)
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


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # a usage error (one line already printed), --help, --version
        return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    # What summary.json keeps to redo the run: the command as typed and every option's value.
    extra = {
        "command": shlex.join(["modcore", *argv]),
        "arguments": {
            k: str(v) if isinstance(v, (Path, range)) else v for k, v in vars(args).items()
        },
    }
    with warnings.catch_warnings():
        # A warning is one "modcore: note:" line, not Python's two (file, line, source).
        warnings.showwarning = _show_warning
        return _run(args, extra)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    end_open_line()
    print(f"modcore: note: {_one_line(message)}", file=sys.stderr)


def _run(args, extra: dict) -> int:
    try:
        _check_inputs(args)
        if args.command == "analyze":
            _check_plot_installed(args)
            extra["network"] = str(args.network)
            if args.scheduler and not isinstance(args.n_clusters, int):
                raise UsageError(
                    "--scheduler runs the null of one k; --n-clusters auto and a:b run their "
                    "nulls here (one embedding per shuffle serves every k): give one k"
                )
            transformer = (args.network / "config.json").is_file()  # a Hugging Face folder
            if args.view is not None or args.top_k is not None or transformer:
                networks = _load_transformer(args)
                with _dask_client(args.scheduler) as client:
                    _analyze_views(networks, args, extra, client=client)
            else:
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
        elif args.command == "functional":
            from .cli_functional import run_functional

            _check_plot_installed(args)
            run_functional(args, extra)
        else:
            _demo(args, extra)
    except _EXPECTED_ERRORS as exc:
        end_open_line()
        print(f"modcore: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        end_open_line()
        print("modcore: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
