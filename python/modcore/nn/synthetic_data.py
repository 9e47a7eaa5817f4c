"""The generated data sets behind :func:`~modcore.nn.datasets.load_dataset`: "line",
"bands" and the pairing of "halves", deterministic from a seed.

Each image is drawn from its own row of random numbers, so the first k images do not
depend on how many are asked for.
"""

from __future__ import annotations

import numpy as np

# Independent random streams per use, so that e.g. the test set does not change
# with n_train: np.random.default_rng([seed, stream]).
TRAIN_STREAM, TEST_STREAM, PAIRS_TRAIN_STREAM, PAIRS_TEST_STREAM = 0, 1, 2, 3

# The "bands" set's five bands of columns: 6, 6, 6, 5 and 5 wide.
_BAND_EDGES = (0, 6, 12, 18, 23, 28)
SYNTHETIC_SIZES = (60000, 10000)


def line_arrays(seed, n_train, n_test):
    """The "line" set: images of 1-10 vertical lines, labelled by their count minus one."""
    return generated(_line_images, seed, n_train, n_test)


def generated(images, seed, n_train, n_test):
    """Training and test arrays from ``images(n, rng)``, each split on its own stream."""
    n_train, n_test = n_train or SYNTHETIC_SIZES[0], n_test or SYNTHETIC_SIZES[1]
    x_train, y_train = images(n_train, np.random.default_rng([seed, TRAIN_STREAM]))
    x_test, y_test = images(n_test, np.random.default_rng([seed, TEST_STREAM]))
    return x_train, y_train, x_test, y_test


def bands_images(n: int, rng: np.random.Generator):
    """The "bands" set: 1 or 2 lines inside one of five bands of columns; 10 classes
    (band, count)."""
    # One row of draws per image (band, line count, column ranks), so the first k
    # images do not depend on n.
    widths = np.diff(_BAND_EDGES)
    draws = rng.random((n, 2 + widths.max()))
    band = (draws[:, 0] * len(widths)).astype(np.int64)
    n_lines = (draws[:, 1] * 2).astype(np.int64) + 1
    images = np.zeros((n, 28, 28), np.float32)
    for b, (start, width) in enumerate(zip(_BAND_EDGES, widths)):
        rows = np.flatnonzero(band == b)
        # As in _line_images: the columns ranked below n_lines are n_lines distinct ones.
        lit = draws[rows, 2 : 2 + width].argsort(axis=1) < n_lines[rows, None]
        images[rows, :, start : start + width] = lit[:, None, :]
    return images, 2 * band + n_lines - 1


def _line_images(n: int, rng: np.random.Generator):
    # One row of draws per image, so the first k images do not depend on n.
    draws = rng.random((n, 29))
    n_lines = (draws[:, 0] * 10).astype(np.int64) + 1
    # Ranks of a random permutation per image: the columns ranked below n_lines
    # are n_lines distinct columns drawn uniformly.
    lit = draws[:, 1:].argsort(axis=1) < n_lines[:, None]
    images = np.broadcast_to(lit[:, None, :], (n, 28, 28)).astype(np.float32)
    return images, n_lines - 1


def pair_halves(xa, ya, xb, yb, n, rng):
    """``n`` images of two halves side by side (each source squeezed to half its width),
    labelled by the sum of the two labels mod 10."""
    if xa.shape[1:] != (28, 28) or xb.shape[1:] != (28, 28):
        raise ValueError(
            f"halves need 28x28 images on both sides, got {xa.shape[1:]} and {xb.shape[1:]}"
        )
    ia = rng.integers(0, len(xa), size=n)
    ib = rng.integers(0, len(xb), size=n)
    left, right = _squeeze_columns(xa[ia]), _squeeze_columns(xb[ib])
    return np.concatenate([left, right], axis=2), (ya[ia] + yb[ib]) % 10


def _squeeze_columns(images: np.ndarray) -> np.ndarray:
    n, height, width = images.shape
    return images.reshape(n, height, width // 2, 2).mean(axis=3, dtype=np.float32)
