"""Data sets as in-memory float tensors: inputs scaled to [0, 1], flat or as images.

Real data sets are read from files already on disk (nothing is downloaded);
synthetic ones are generated in code, deterministically from ``seed``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..common.types import PathLike
from ..network.checks import check_positive_int
from .data_files import cifar_inputs, read_cifar_batch, read_idx
from .synthetic_data import (
    PAIRS_TEST_STREAM,
    PAIRS_TRAIN_STREAM,
    SYNTHETIC_SIZES,
    TEST_STREAM,
    TRAIN_STREAM,
    bands_images,
    generated,
    line_arrays,
    pair_halves,
)

__all__ = [
    "Dataset",
    "DatasetNotFoundError",
    "load_dataset",
    "read_idx",
    "DATASET_NAMES",
    "ENV_VAR",
    "FASHION_SYSTEM_DIR",
]

ENV_VAR = "MODCORE_DATA"
# Where Debian's package dataset-fashion-mnist installs the four IDX files.
FASHION_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
DATASET_NAMES = ("mnist", "fashion", "cifar10", "cifar10-rgb", "line", "bands", "halves-<a>-<b>")

_IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
_CIFAR_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
_HALF_SOURCES = ("line", "mnist", "fashion")
# One image's shape in each data set (the others' are 1 x 28 x 28), known before loading so
# that a command can build its model, and check its options against it, first.
_IMAGE_SHAPES = {"cifar10": (1, 32, 32), "cifar10-rgb": (3, 32, 32)}
N_CLASSES = 10  # every data set here has ten classes


class DatasetNotFoundError(FileNotFoundError):
    """A real data set's files are not on this machine.

    The message says where :func:`load_dataset` looked and how to get the files,
    naming the data directory as the Python parameter ``data_dir=...``;
    ``cli_message`` says the same for the ``modcore`` command (``--data-dir DIR``).
    """

    def __init__(self, describe: Callable[[str, str], str]) -> None:
        super().__init__(describe("data_dir", "data_dir=..."))
        self.cli_message = describe("--data-dir", "--data-dir DIR")


def examples_of(data, what: str = "test data") -> tuple[torch.Tensor, torch.Tensor]:
    """The checked ``(x, y)`` of ``data``: a :class:`Dataset` (its test split) or an
    ``(x, y)`` pair, the data every function that measures a model on examples takes."""
    if hasattr(data, "x_test") and hasattr(data, "y_test"):
        x, y = data.x_test, data.y_test
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        x, y = data
    else:
        raise TypeError(
            f"data must be a modcore.nn.Dataset or an (x, y) pair, got {type(data).__name__}"
        )
    return check_examples(x, y, what)


def check_examples(x, y, what: str = "data") -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)`` as a float input tensor and an int64 label tensor, or a ValueError /
    TypeError naming what is wrong: not array-like, other shapes than ``(n, ...)`` and
    ``(n,)`` with n >= 1, non-finite or complex inputs, labels that are not whole
    non-negative numbers."""
    try:
        x, y = torch.as_tensor(x), torch.as_tensor(y)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TypeError(f"{what}: inputs and labels must be numeric arrays ({exc})") from exc
    if x.ndim < 2 or y.ndim != 1 or len(x) != len(y) or len(y) == 0:
        raise ValueError(
            f"{what}: expected inputs of shape (n, n_features) or (n, channels, ...) and n "
            f"labels with n >= 1, got x {tuple(x.shape)} and y {tuple(y.shape)}"
        )
    if x.is_complex() or x.dtype == torch.bool:
        raise TypeError(f"{what}: inputs must be real numbers, got {x.dtype}")
    if not x.is_floating_point():
        x = x.float()
    bad = int((~torch.isfinite(x)).sum())
    if bad:
        raise ValueError(f"{what}: {bad} of the inputs are NaN or infinite")
    if y.is_complex() or y.dtype == torch.bool:
        raise TypeError(f"{what}: labels must be class indices (integers), got {y.dtype}")
    if y.is_floating_point():
        if not (torch.isfinite(y) & (y == y.round())).all():
            raise ValueError(f"{what}: labels must be class indices (whole numbers)")
    y = y.long()
    if int(y.min()) < 0:
        raise ValueError(f"{what}: labels must be >= 0 (class indices), got {int(y.min())}")
    return x, y


@dataclass(frozen=True, repr=False)
class Dataset:
    """A classification data set held in memory.

    Attributes
    ----------
    x_train, x_test : torch.Tensor
        float32 inputs scaled to ``[0, 1]``, of shape ``(n, n_features)`` or, when
        loaded with ``flatten=False``, ``(n, channels, height, width)``.
    y_train, y_test : torch.Tensor
        int64 class labels in ``[0, n_classes)``.
    n_classes : int
    name : str
        The name given to :func:`load_dataset`.
    source : str
        Where the data came from (files read, or generator and seed).
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int
    name: str
    source: str

    def __post_init__(self) -> None:
        # Checked here, so a set built by hand trains and lesions as a loaded one does.
        check_positive_int(self.n_classes, "n_classes")
        for split in ("train", "test"):
            x, y = check_examples(
                getattr(self, f"x_{split}"), getattr(self, f"y_{split}"), f"{split} split"
            )
            if int(y.max()) >= self.n_classes:
                raise ValueError(
                    f"{split} split: labels must be < n_classes ({self.n_classes}), got "
                    f"{int(y.max())}"
                )
            object.__setattr__(self, f"x_{split}", x)
            object.__setattr__(self, f"y_{split}", y)
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise ValueError(
                f"train and test inputs differ in shape: {tuple(self.x_train.shape[1:])} and "
                f"{tuple(self.x_test.shape[1:])}"
            )

    @property
    def input_shape(self) -> tuple:
        """Shape of one example: ``(n_features,)`` or ``(channels, height, width)``."""
        return tuple(int(n) for n in self.x_train.shape[1:])

    @property
    def n_features(self) -> int:
        """Number of inputs per example."""
        return math.prod(self.input_shape)

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, n_train={len(self.y_train)}, n_test={len(self.y_test)}, "
            f"input_shape={self.input_shape}, n_classes={self.n_classes}, source={self.source!r})"
        )


def load_dataset(
    name: str,
    *,
    data_dir: PathLike | None = None,
    seed: int = 0,
    n_train: int | None = None,
    n_test: int | None = None,
    flatten: bool = True,
) -> Dataset:
    """Load or generate a data set by name.

    Parameters
    ----------
    name : str
        One of:

        - ``"mnist"``: the four MNIST IDX files (gzip or raw) from ``data_dir``,
          ``data_dir/mnist``, ``data_dir/MNIST/raw`` or ``$MODCORE_DATA/mnist``,
          ``$MODCORE_DATA/MNIST/raw``.
        - ``"fashion"``: Fashion-MNIST, the same four file names, from ``data_dir``
          (and its ``fashion-mnist`` / ``FashionMNIST/raw``), then
          ``/usr/share/datasets/fashion-mnist`` (Debian package
          ``dataset-fashion-mnist``), then ``$MODCORE_DATA/fashion-mnist``.
        - ``"cifar10"``: the python-pickle batches (``data_batch_1`` ... ``test_batch``)
          in ``data_dir`` or ``data_dir/cifar-10-batches-py`` or
          ``$MODCORE_DATA/cifar-10-batches-py``, converted to grayscale
          (ITU-R 601 luma, 0.299 R + 0.587 G + 0.114 B) and flattened to 1024
          inputs. The paper also resized them to 28x28; modcore keeps 32x32, so
          the MLP needs 1024 inputs. ``"cifar10-rgb"`` keeps the colours:
          3072 inputs, channel-major (all red, then green, then blue).
        - ``"line"``: 28x28 images with 1 to 10 (uniformly) full-height vertical
          lines at distinct random columns; label = number of lines - 1.
        - ``"bands"``: 28x28 images cut into five vertical bands of columns (6, 6,
          6, 5 and 5 wide); one band, drawn uniformly, holds 1 or 2 full-height
          lines at distinct random columns, the rest is blank; label = 2 x band +
          lines - 1. Five independent two-class tasks side by side: a network
          that learns them has modules by construction (``modcore demo`` trains
          on it when Fashion-MNIST is absent, and says so).
        - ``"halves-<a>-<b>"`` with ``a``, ``b`` in ``line``, ``mnist``, ``fashion``:
          an image of ``a`` (left) and one of ``b`` (right), each squeezed to
          28x14 by averaging column pairs, drawn independently at random with
          replacement; label = ``(label_a + label_b) % 10``, as in Filan et al.
          The left half alone does not determine the label, nor does the right.
    data_dir : str or path-like, optional
        Directory to search first for real data sets.
    seed : int, default 0
        Non-negative seed of the synthetic data and of the random subsets of
        real data. It names a data set rather than drawing one, hence 0 and not the
        analysis functions' ``seed=None``.
    n_train, n_test : int, optional
        Real data sets: a random subset of this size (default: all examples).
        Synthetic ones: how many examples to generate (default 60000 / 10000).
    flatten : bool, default True
        Flat inputs ``(n, n_features)`` for an MLP; False keeps images
        ``(n, channels, height, width)`` for a CNN: ``(n, 1, 28, 28)`` for the
        28x28 sets, ``(n, 1, 32, 32)`` for ``cifar10`` and ``(n, 3, 32, 32)``
        for ``cifar10-rgb``. Flattening an image gives the flat input
        (channel-major, then rows).

    Returns
    -------
    Dataset

    Raises
    ------
    ValueError
        If the name is unknown, a size is < 1 or exceeds the data available, the
        seed is negative, or a data file is malformed (the message names the file).
    DatasetNotFoundError
        (a FileNotFoundError) If the files of a real data set are not found; the
        message lists where it looked and how to get them.
    TypeError
        If a size or the seed is not an int, or ``flatten`` is not a bool.

    Examples
    --------
    >>> ds = load_dataset("line", n_train=100, n_test=20)
    >>> tuple(ds.x_train.shape), ds.n_classes
    ((100, 784), 10)
    >>> load_dataset("line", n_train=100, n_test=20, flatten=False).input_shape
    (1, 28, 28)
    """
    for label, value in (("n_train", n_train), ("n_test", n_test)):
        if value is not None:
            check_positive_int(value, label)
    check_positive_int(seed, "seed", minimum=0)
    if not isinstance(flatten, (bool, np.bool_)):
        raise TypeError(f"flatten must be a bool, got {type(flatten).__name__}")
    key = _dataset_key(name)
    if key.startswith("halves-"):
        parts = key.split("-")
        arrays, source = _halves(parts[1], parts[2], data_dir, seed, n_train, n_test)
    elif key == "line":
        arrays, source = line_arrays(seed, n_train, n_test), f"generated (line, seed {seed})"
    elif key == "bands":
        arrays = generated(bands_images, seed, n_train, n_test)
        source = f"generated (bands, seed {seed})"
    else:
        arrays, source = _real(key, data_dir)
        arrays = _subset(arrays, seed, n_train, n_test, key)
    x_train, y_train, x_test, y_test = arrays
    data = Dataset(
        x_train=_as_inputs(x_train, flatten),
        y_train=torch.from_numpy(y_train.astype(np.int64)),
        x_test=_as_inputs(x_test, flatten),
        y_test=torch.from_numpy(y_test.astype(np.int64)),
        n_classes=N_CLASSES,
        name=key,
        source=source,
    )
    expected = dataset_input_shape(key, flatten=flatten)
    if data.input_shape != expected:  # the shape commands build their models for
        raise ValueError(
            f"{key} ({source}) holds inputs of shape {data.input_shape}, not the "
            f"{expected} of that data set"
        )
    return data


def dataset_input_shape(name: str, *, flatten: bool = True) -> tuple:
    """One input's shape in the data set ``name``, as :func:`load_dataset` gives it,
    without loading it (so a model can be built, and checked, first).

    Parameters
    ----------
    name : str
        As for :func:`load_dataset`.
    flatten : bool, default True
        As for :func:`load_dataset`.

    Returns
    -------
    tuple of int

    Raises
    ------
    ValueError
        If the name is unknown.

    Examples
    --------
    >>> dataset_input_shape("fashion"), dataset_input_shape("cifar10-rgb", flatten=False)
    ((784,), (3, 32, 32))
    """
    shape = _IMAGE_SHAPES.get(_dataset_key(name), (1, 28, 28))
    return (math.prod(shape),) if flatten else shape


def _dataset_key(name) -> str:
    """The data set's name in lower case; ValueError if it names none."""
    key = str(name).lower()
    if key.startswith("halves-"):
        parts = key.split("-")
        if len(parts) != 3 or parts[1] not in _HALF_SOURCES or parts[2] not in _HALF_SOURCES:
            raise ValueError(
                f"unknown data set {name!r}: halves take two of {', '.join(_HALF_SOURCES)}, "
                "as in 'halves-line-fashion'"
            )
    elif key not in ("line", "bands", "mnist", "fashion", "cifar10", "cifar10-rgb"):
        raise ValueError(f"unknown data set {name!r}; expected one of {', '.join(DATASET_NAMES)}")
    return key


def _as_inputs(x: np.ndarray, flatten: bool) -> torch.Tensor:
    """Images ``(n, h, w)`` (one channel) or ``(n, c, h, w)`` as flat or image-shaped inputs."""
    if flatten:
        x = x.reshape(len(x), -1)
    elif x.ndim == 3:
        x = x[:, None]
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def _halves(a, b, data_dir, seed, n_train, n_test):
    n_train, n_test = n_train or SYNTHETIC_SIZES[0], n_test or SYNTHETIC_SIZES[1]
    sources = {}
    for part in dict.fromkeys((a, b)):
        if part == "line":
            sources[part] = line_arrays(seed, n_train, n_test), f"line (generated, seed {seed})"
        else:
            arrays, where = _real(part, data_dir)
            sources[part] = arrays, f"{part} ({where})"
    (xa, ya, xa_test, ya_test), (xb, yb, xb_test, yb_test) = sources[a][0], sources[b][0]
    x_train, y_train = pair_halves(
        xa, ya, xb, yb, n_train, np.random.default_rng([seed, PAIRS_TRAIN_STREAM])
    )
    x_test, y_test = pair_halves(
        xa_test, ya_test, xb_test, yb_test, n_test, np.random.default_rng([seed, PAIRS_TEST_STREAM])
    )
    described = " and ".join(source for _, source in sources.values())
    return (x_train, y_train, x_test, y_test), f"halves of {described}, pairs seed {seed}"


def _subset(arrays, seed, n_train, n_test, name):
    x_train, y_train, x_test, y_test = arrays
    x_train, y_train = _random_rows(
        x_train, y_train, n_train, seed, TRAIN_STREAM, f"{name} n_train"
    )
    x_test, y_test = _random_rows(x_test, y_test, n_test, seed, TEST_STREAM, f"{name} n_test")
    return x_train, y_train, x_test, y_test


def _random_rows(x, y, n, seed, stream, label):
    if n is None:
        return x, y
    if n > len(y):
        raise ValueError(f"{label}={n} exceeds the {len(y)} examples available")
    rows = np.random.default_rng([seed, stream]).choice(len(y), size=n, replace=False)
    return x[rows], y[rows]


def _real(name, data_dir):
    """Arrays (x scaled to [0, 1]) and a description of where they were read."""
    if name == "mnist":
        return _idx_dataset("MNIST", _search_dirs(data_dir, ("mnist", "MNIST/raw")), _MNIST_HINT)
    if name == "fashion":
        dirs = _search_dirs(data_dir, ("fashion-mnist", "FashionMNIST/raw"), FASHION_SYSTEM_DIR)
        return _idx_dataset("Fashion-MNIST", dirs, _FASHION_HINT)
    return _cifar10(data_dir, rgb=name == "cifar10-rgb")


# {data_dir}: how the caller names the data directory (data_dir=..., or --data-dir DIR).
_MNIST_HINT = (
    "Put the four files of the MNIST distribution in a directory and pass it as "
    f"{{data_dir}}, or put them in ${ENV_VAR}/mnist (environment variable {ENV_VAR})."
)
_FASHION_HINT = (
    "Install them with `apt-get install dataset-fashion-mnist` (Debian/Ubuntu, as root or "
    "with sudo), or put the four files in a directory passed as {data_dir} or in "
    f"${ENV_VAR}/fashion-mnist."
)


def _search_dirs(data_dir, subdirs, system_dir=None) -> list[Path]:
    dirs = []
    if data_dir is not None:
        root = Path(data_dir).expanduser()
        dirs += [root] + [root / sub for sub in subdirs]
    if system_dir is not None:
        dirs.append(system_dir)
    env = os.environ.get(ENV_VAR)
    if env:
        dirs += [Path(env).expanduser() / sub for sub in subdirs]
    return dirs


def _find(dirs, names, what, hint, suffixes=("",)):
    """The first directory holding every name (with one of ``suffixes``) and the paths found."""
    looked = []
    for directory in dirs:
        if not directory.is_dir():
            looked.append(f"{directory} (no such directory)")
            continue
        found, missing = {}, []
        for name in names:
            candidates = [directory / f"{name}{suffix}" for suffix in suffixes]
            path = next((p for p in candidates if p.is_file()), None)
            if path is None:
                missing.append(name)
            else:
                found[name] = path
        if not missing:
            return directory, found
        looked.append(f"{directory} (missing {', '.join(missing)})")
    variants = (
        f" (each may end in {' or '.join(s for s in suffixes if s)})" if len(suffixes) > 1 else ""
    )

    def describe(option: str, usage: str) -> str:
        """The message, naming the data directory's ``option`` and its ``usage``."""
        where = "; ".join(looked) or f"nowhere (no {option} given and ${ENV_VAR} is unset)"
        return (
            f"{what} not found: need {', '.join(names)}{variants}. Looked in: {where}. "
            + hint.format(data_dir=usage)
        )

    raise DatasetNotFoundError(describe)


def _idx_dataset(what, dirs, hint):
    directory, paths = _find(dirs, _IDX_FILES, what, hint, suffixes=("", ".gz"))
    arrays = []
    for images_name, labels_name in (_IDX_FILES[:2], _IDX_FILES[2:]):
        images, labels = read_idx(paths[images_name]), read_idx(paths[labels_name])
        if images.ndim != 3 or images.dtype != np.uint8:
            raise ValueError(
                f"{paths[images_name]}: expected 3-D uint8 images, "
                f"got {images.ndim}-D {images.dtype}"
            )
        if labels.shape != (len(images),) or labels.max(initial=0) > 9:
            raise ValueError(
                f"{paths[labels_name]}: expected {len(images)} labels in 0..9 to match "
                f"{paths[images_name].name}, got shape {labels.shape}, max {labels.max(initial=0)}"
            )
        arrays += [images.astype(np.float32) / 255.0, labels]
    return tuple(arrays), f"IDX files in {directory}"


def _cifar10(data_dir, rgb):
    dirs = _search_dirs(data_dir, ("cifar-10-batches-py",))
    hint = (
        "Extract the CIFAR-10 python version (cifar-10-python.tar.gz) and pass the "
        f"directory as {{data_dir}}, or extract it in ${ENV_VAR}."
    )
    directory, paths = _find(dirs, _CIFAR_FILES, "CIFAR-10", hint)
    batches = [read_cifar_batch(paths[name]) for name in _CIFAR_FILES]
    x_train = np.concatenate([data for data, _ in batches[:5]])
    y_train = np.concatenate([labels for _, labels in batches[:5]])
    x_test, y_test = batches[5]
    if y_train.max() > 9 or y_test.max() > 9 or min(y_train.min(), y_test.min()) < 0:
        raise ValueError(f"{directory}: CIFAR-10 labels must be in 0..9")
    return (cifar_inputs(x_train, rgb), y_train, cifar_inputs(x_test, rgb), y_test), (
        f"CIFAR-10 python batches in {directory}, {'rgb' if rgb else 'grayscale'}"
    )
