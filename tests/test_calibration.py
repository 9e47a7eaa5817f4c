"""Calibration: on random networks, which are exchangeable with their shuffles, the test
at the 5% level rejects about 5% of them, at one k and corrected over a range of k.

200 networks of four shapes and sparsities, small nulls. A valid, exact test's rejection
count is Binomial(200, 0.05): it must lie in that distribution's central 99.9% interval
([2, 21]); above it the test is invalid (rejects too often), below it needlessly
conservative. benchmarks/bench_calibration.py measures the same over more shapes.
"""

import numpy as np
import pytest
from scipy import stats

import modcore
from modcore.network.synthetic import random_pruned_mlp

N_NETWORKS = 200
ALPHA = 0.05
# (widths, sparsity): shallow and deeper, dense and sparse; network i has shape i % 4.
SHAPES = [((12, 16, 8), 0.5), ((20, 20, 20), 0.8), ((30, 8), 0.0), ((8, 24, 8), 0.9)]


def random_networks():
    for seed in range(N_NETWORKS):
        widths, sparsity = SHAPES[seed % len(SHAPES)]
        yield seed, random_pruned_mlp(widths, sparsity=sparsity, seed=seed)


def assert_calibrated(rejections: int) -> None:
    low, high = (int(stats.binom.ppf(q, N_NETWORKS, ALPHA)) for q in (0.0005, 0.9995))
    assert low <= rejections <= high, (
        f"{rejections} of {N_NETWORKS} random networks rejected at {ALPHA}; "
        f"Binomial({N_NETWORKS}, {ALPHA})'s central 99.9% interval is [{low}, {high}]"
    )


# The sparsest nets have fragments cut off from both ends; kept, as the default drop says.
pytestmark = pytest.mark.filterwarnings("ignore::modcore.FloatingUnitsWarning")


@pytest.mark.parametrize("shuffle", ["layer", "layer_nonzero"])
def test_false_positive_rate_at_one_k(shuffle):
    """19 shuffles: p = 0.05 exactly when the network is below all of them."""
    p = np.array(
        [
            modcore.ncut_significance(
                w,
                n_clusters=3,
                n_shuffles=19,
                shuffle=shuffle,
                seed=seed,
                n_jobs=1,
                progress=False,
            ).p_value
            for seed, w in random_networks()
        ]
    )
    assert_calibrated(int(np.count_nonzero(p <= ALPHA)))


def test_false_positive_rate_corrected_over_k():
    """The corrected p-value over k = 2..4 (199 shuffles: with fewer, the min-p test's
    ties make it conservative)."""
    p = np.array(
        [
            modcore.ncut_curve(
                w,
                ks=[2, 3, 4],
                n_shuffles=199,
                shuffle="layer",
                seed=seed,
                n_jobs=1,
                progress=False,
            ).corrected_p_value
            for seed, w in random_networks()
        ]
    )
    assert_calibrated(int(np.count_nonzero(p <= ALPHA)))
