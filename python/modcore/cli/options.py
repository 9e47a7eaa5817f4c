"""What several subcommands share: argument types with their limits, output paths, and the
option groups (analysis, label rule, graph, scheduler)."""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import math
import tempfile
from pathlib import Path

from ..method.null import MAX_SHUFFLES, SHUFFLES
from ..method.settings import ClusterSettings
from .outputs import OUTPUT_OPTIONS, check_outputs


class UsageError(Exception):
    """A problem with the user's input: one line on stderr, exit code 2."""


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


def _setting_int(name: str):
    """An argparse type for an integer field of ClusterSettings, with its bounds."""
    return _integer(*ClusterSettings.bounds(name))


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
            choices=kwargs.get("choices"),
            default=argparse.SUPPRESS,
            help=argparse.SUPPRESS,
        )


def _add_analysis_options(
    p: argparse.ArgumentParser, shuffles: int, default_shuffles=("layer",), *, choose_k=True
) -> None:
    """The options of a clustering tested against its null; ``choose_k``: --n-clusters
    also takes 'auto' and a range (analyze, demo), else one k (sweep)."""
    if choose_k:
        _option(
            p,
            "--n-clusters",
            "--clusters",
            type=_clusters,
            default=ClusterSettings.default("n_clusters"),
            help=f"number of modules k (default {ClusterSettings.default('n_clusters')}), "
            "'auto' (the eigengap's suggestion, with the verdict at k - 1 and k + 1 too) "
            "or a range such as 2:20 (the n-cut against its null at every k; the verdict "
            "is corrected for choosing the best k)",
        )
    else:
        _add_k_option(p)
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
    _add_seed_and_jobs(p)
    p.add_argument("--json", type=_output_file, help="write the results as JSON here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_k_option(p: argparse.ArgumentParser) -> None:
    """--n-clusters, one k (analyze's, which also takes auto and ranges, is in the analysis
    options)."""
    _option(
        p,
        "--n-clusters",
        "--clusters",
        type=_setting_int("n_clusters"),
        default=ClusterSettings.default("n_clusters"),
        help=f"number of modules k (default {ClusterSettings.default('n_clusters')})",
    )


def _add_test_data_options(p: argparse.ArgumentParser, use: str) -> None:
    """--dataset, --data-dir and --n-test of a command run on a data set's test split,
    which it ``use``s (e.g. "is used")."""
    p.add_argument(
        "--dataset", default="fashion", help=f"data set whose test split {use} (default fashion)"
    )
    p.add_argument("--data-dir", type=Path, help="where dataset files are (or $MODCORE_DATA)")
    p.add_argument(
        "--n-test",
        type=_COUNT,
        default=None,
        help="use a random subset of this many test examples (default: all)",
    )


def _check_test_data(dataset: str, shape, whose: str) -> None:
    """Refuse, from the data set's name alone (before it loads), one whose inputs do not
    reshape to ``shape`` (``whose``: the option or model that gives it), or an unknown
    name."""
    from ..nn.datasets import dataset_input_shape

    try:
        (n_inputs,) = dataset_input_shape(dataset)
    except ValueError as exc:
        raise UsageError(f"--dataset: {exc}") from None
    if shape is not None and math.prod(shape) != n_inputs:
        raise UsageError(
            f"{dataset} has {n_inputs} inputs per example, which do not reshape to {whose} "
            f"{','.join(map(str, shape))}"
        )


def _add_seed(p: argparse.ArgumentParser) -> None:
    """--seed, 0 by default (the Python functions' None draws a fresh one): the same
    command gives the same result."""
    p.add_argument(
        "--seed",
        type=_SEED,
        default=0,
        help="random seed (default 0, so that the same command gives the same result; "
        "the Python functions' seed=None draws a fresh one)",
    )


def _add_seed_and_jobs(p: argparse.ArgumentParser) -> None:
    """--seed and --n-jobs (threads of the clustering and its null)."""
    _add_seed(p)
    _option(
        p,
        "--n-jobs",
        "--jobs",
        type=_COUNT,
        default=None,
        help="threads (default: all cores; more are capped at the cores)",
    )


def _add_rule_options(p: argparse.ArgumentParser) -> None:
    """How the embedding becomes modules (modcore.spectral_cluster's parameters)."""
    p.add_argument(
        "--assign-labels",
        choices=ClusterSettings.choices("assign_labels"),
        default=ClusterSettings.default("assign_labels"),
        help="cluster_qr (default; depends on the network alone, not on the seed or "
        "the order of units) or kmeans (restarts; with --no-refine --n-init 25 the "
        "authors' rule)",
    )
    p.add_argument(
        "--refine",
        action=argparse.BooleanOptionalAction,
        default=ClusterSettings.default("refine"),
        help="move single units while that lowers the n-cut (default: yes)",
    )
    _option(
        p,
        "--n-init",
        type=_setting_int("n_init"),
        default=ClusterSettings.default("n_init"),
        help="k-means restarts with --assign-labels kmeans "
        f"(default {ClusterSettings.default('n_init')})",
    )
    p.add_argument(
        "--select-by",
        choices=ClusterSettings.choices("select_by"),
        default=ClusterSettings.default("select_by"),
        help="the k-means restart kept: lowest inertia (default) or n-cut",
    )


def _add_graph_options(p: argparse.ArgumentParser) -> None:
    """How a network of weights (and each shuffled one) becomes the graph: drop, normalize."""
    p.add_argument(
        "--drop",
        choices=ClusterSettings.choices("drop"),
        default=ClusterSettings.default("drop"),
        help="units left out of the graph: isolated, those without edges (default; the "
        "paper's code), or unreachable, also every component that misses the first or "
        "the last layer (the authors' PyTorch port); the network and every shuffle alike",
    )
    p.add_argument(
        "--normalize",
        choices=[c or "none" for c in ClusterSettings.choices("normalize")],
        default=ClusterSettings.default("normalize") or "none",
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


def _clusters(text: str):
    """--n-clusters: an int, "auto", or an inclusive range "a:b" (as range(a, b + 1))."""
    if text == "auto":
        return text
    low_k, high_k = ClusterSettings.bounds("n_clusters")
    expected = f"expected a number of modules in [{low_k}, {high_k}], 'auto' or a range like 2:20"
    try:
        if ":" in text:
            low, high = (int(part) for part in text.split(":"))
        else:
            low = high = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{expected}, got {text!r}") from None
    for k in (low, high):
        if not low_k <= k <= high_k:
            raise argparse.ArgumentTypeError(
                f"{expected}, got {text!r}: {k} is not in [{low_k}, {high_k}]"
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


def _check_inputs(args) -> None:
    """Inputs that cannot be read, and outputs that would clash (with an input, with
    each other, or with a file a report folder will hold), fail here before any
    computation (each output path is checked alone as the options are parsed:
    _output_file, _output_dir)."""
    outputs = [(f"--{d}", d, getattr(args, d)) for d in OUTPUT_OPTIONS if getattr(args, d, None)]
    inputs = [args.network] if getattr(args, "network", None) else []
    inputs += getattr(args, "networks", [])
    inputs += [args.weights] if getattr(args, "weights", None) else []
    try:
        check_outputs(args.command, outputs, inputs)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
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
