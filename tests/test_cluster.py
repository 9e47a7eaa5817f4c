import re

import numpy as np
import pytest
from sklearn.cluster import SpectralClustering
from threadpoolctl import threadpool_limits

import modcore
import oracles
from modcore.network.synthetic import planted_modular_mlp, random_pruned_mlp


@pytest.mark.parametrize("k", [2, 4, 6])
def test_planted_modules_recovered_exactly(k):
    widths = (60, 72, 72, 48)
    weights, groups = planted_modular_mlp(widths, k, noise=0.02, seed=k)
    res = modcore.spectral_cluster(weights, n_clusters=k, seed=0)
    assert oracles.same_partition(np.concatenate(res.labels), np.concatenate(groups))
    shuffled = [
        np.random.default_rng(l).permutation(w.ravel()).reshape(w.shape)
        for l, w in enumerate(weights)
    ]
    null = modcore.spectral_cluster(shuffled, n_clusters=k, seed=0)
    assert res.ncut < 0.25 * null.ncut


def test_labels_and_ncut_are_consistent():
    weights = random_pruned_mlp((100, 80, 60, 10), sparsity=0.8, seed=1)
    res = modcore.spectral_cluster(weights, n_clusters=5, seed=3)
    assert [len(l) for l in res.labels] == [100, 80, 60, 10]
    assert res.ncut == pytest.approx(modcore.ncut(weights, res.labels), rel=1e-12)
    adj, live = oracles.live_adjacency(weights)
    flat = np.concatenate(res.labels)
    assert (flat[~live] == -1).all() and (flat[live] >= 0).all()
    assert res.ncut == pytest.approx(oracles.ncut(adj, flat[live]), rel=1e-9)
    assert res.eigenvalues.shape == (5,) and res.eigenvalues[0] == pytest.approx(1.0)


def test_quality_no_worse_than_sklearn_on_reference_nets():
    """modcore's n-cut on 10 pruned reference nets vs scikit-learn's SpectralClustering."""
    ours, theirs = [], []
    for seed in range(10):
        weights = random_pruned_mlp(sparsity=0.9, seed=seed)
        ours.append(modcore.spectral_cluster(weights, n_clusters=12, seed=seed).ncut)
        adj, _ = oracles.live_adjacency(weights)
        with threadpool_limits(1):  # OpenMP/BLAS threads spin badly on a busy machine
            labels = SpectralClustering(
                12, affinity="precomputed", assign_labels="kmeans", random_state=seed
            ).fit_predict(adj)
        theirs.append(oracles.ncut(adj, labels))
    assert np.mean(ours) <= np.mean(theirs) * 1.005, (ours, theirs)


def test_isolated_neurons_dropped():
    weights = random_pruned_mlp((50, 40, 30), sparsity=0.5, seed=0)
    weights[0][:, 3] = 0.0
    weights[1][3, :] = 0.0  # neuron 3 of layer 1 now has no edges
    res = modcore.spectral_cluster(weights, n_clusters=3, seed=0)
    assert res.labels[1][3] == -1


def test_result_serialises():
    import json

    weights = random_pruned_mlp((30, 20, 10), sparsity=0.3, seed=0)
    res = modcore.spectral_cluster(weights, n_clusters=3, seed=0)
    d = json.loads(json.dumps(res.to_dict()))
    assert d["ncut"] == res.ncut and len(d["labels"]) == 3
    assert "ncut=" in repr(res)


def test_repr_counts_dropped_units_apart_from_module_0():
    # Input units 0 and 1 have no edges (label -1): 9 units in the modules, 2 dropped.
    w = [np.zeros((4, 3)), np.zeros((3, 4))]
    w[0][2:, :] = 1.0
    w[1][:, :2] = 1.0
    w[1][:, 2:] = 0.5
    res = modcore.spectral_cluster(w, n_clusters=2, seed=0)
    text = repr(res)
    sizes = [int(n) for n in re.search(r"module sizes=\[(\d+), (\d+)\]", text).groups()]
    assert sum(sizes) == 9 and "dropped=2" in text  # 2 + 3 + 4 connected units
    flat = np.concatenate(res.labels)
    assert sizes == [int((flat == 0).sum()), int((flat == 1).sum())]


@pytest.mark.parametrize(
    "weights, exc, match",
    [
        ([], ValueError, "empty"),
        (np.ones((3, 3)), TypeError, "single numpy array"),
        ([np.ones(3)], ValueError, "must be 2-D"),
        ([np.ones((2, 2, 2))], ValueError, "must be 2-D"),
        ([np.ones((3, 4)), np.ones((5, 2))], ValueError, r"weights\[1\] has shape \(5, 2\)"),
        ([np.array([[1.0, np.nan]])], ValueError, "NaN or infinite"),
        ([np.array([[1.0, np.inf]])], ValueError, "NaN or infinite"),
        ([np.array([["a", "b"]])], TypeError, "dtype"),
        ([np.array([[1 + 1j]])], TypeError, "dtype"),
        ([np.ones((2, 2), dtype=bool)], TypeError, "dtype"),
        ([np.zeros((0, 3))], ValueError, "empty dimension"),
        ([np.zeros((3, 3)), np.zeros((3, 2))], ValueError, "no non-zero weights"),
    ],
)
def test_bad_weights(weights, exc, match):
    with pytest.raises(exc, match=match):
        modcore.spectral_cluster(weights, n_clusters=2)


def test_integer_and_strided_weights_are_converted():
    w = np.arange(24).reshape(4, 6) % 5
    a = modcore.spectral_cluster([w, w.T[:, :4].copy()], n_clusters=2, seed=0)
    b = modcore.spectral_cluster(
        [w.astype(float), np.asfortranarray(w.T[:, :4])], n_clusters=2, seed=0
    )
    assert a.ncut == b.ncut


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        # the settings' own checks are in test_settings.py
        ({"n_clusters": 500}, ValueError, "between 2 and the number of live neurons"),
        ({"n_jobs": 0}, ValueError, "n_jobs"),
        ({"seed": "x"}, TypeError, "seed"),
        ({"seed": -1}, ValueError, "seed"),
    ],
)
def test_bad_parameters(kwargs, exc, match):
    weights = random_pruned_mlp((20, 20, 10), sparsity=0.5, seed=0)
    with pytest.raises(exc, match=match):
        modcore.spectral_cluster(weights, **kwargs)
