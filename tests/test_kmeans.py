import numpy as np
import pytest
from sklearn.cluster import KMeans

from modcore import _core


def blobs(seed, n=600, d=5, k=6):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=4.0, size=(k, d))
    return centers[rng.integers(0, k, n)] + rng.normal(size=(n, d))


@pytest.mark.parametrize("seed", range(5))
def test_inertia_no_worse_than_sklearn(seed):
    x = blobs(seed)
    ours = _core.kmeans(x, 6, 10, 300, seed, 1)
    ref = KMeans(6, n_init=10, random_state=seed).fit(x)
    assert ours["inertia"] <= ref.inertia_ * (1 + 1e-6)


def test_result_is_a_lloyd_fixed_point():
    x = blobs(7, k=4)
    res = _core.kmeans(x, 4, 3, 300, 0, 1)
    labels, centers = res["labels"], res["centers"]
    dists = ((x[:, None, :] - centers[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(labels, dists.argmin(1))
    for c in range(4):
        np.testing.assert_allclose(centers[c], x[labels == c].mean(0))
    assert res["inertia"] == pytest.approx(dists.min(1).sum())


def test_same_seed_same_labels_any_thread_count():
    x = np.random.default_rng(0).normal(size=(500, 8))  # no structure: restarts differ
    runs = [_core.kmeans(x, 7, 8, 300, 42, n_jobs)["labels"] for n_jobs in (1, 2, 1)]
    np.testing.assert_array_equal(runs[0], runs[1])
    np.testing.assert_array_equal(runs[0], runs[2])


def test_duplicate_points_keep_every_cluster_non_empty():
    x = np.repeat(np.eye(3), 20, axis=0)  # three distinct points, k = 5
    res = _core.kmeans(x, 5, 2, 300, 0, 1)
    assert set(res["labels"].tolist()) == set(range(5))
    assert res["inertia"] == pytest.approx(0.0, abs=1e-12)
