"""The embedding to labels: cluster_qr, k-means restarts kept by inertia or n-cut,
and the local n-cut refinement, against scipy/numpy oracles."""

import numpy as np
import pytest

import modcore
import oracles
from modcore import _core
from modcore.network.network import Network
from modcore.network.synthetic import random_pruned_mlp


def live_labels(res, weights):
    """The clustering's labels over the oracle's live units, in its order."""
    flat = np.concatenate(res.labels)
    _, live = oracles.live_adjacency(weights)
    return flat[live]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cluster_qr_matches_scipy_on_the_same_embedding(seed):
    weights = random_pruned_mlp((120, 90, 80, 60), sparsity=0.7, seed=seed)
    net = Network.from_weights(weights)
    res = modcore.spectral_cluster(
        weights, n_clusters=6, assign_labels="cluster_qr", refine=False, seed=seed
    )
    emb = _core.spectral_embedding(*net.to_core(), 6, 1e-5, "auto")  # the same solve
    order = net.offsets[emb["node_group"]] + emb["node_index"]
    # Modules are numbered by volume, the oracle's by pivot: the same partition.
    assert oracles.same_partition(
        np.concatenate(res.labels)[order], oracles.cluster_qr(emb["embedding"])
    )


def test_cluster_qr_does_not_depend_on_the_seed():
    weights = random_pruned_mlp((200, 150, 100, 10), sparsity=0.8, seed=3)
    runs = [modcore.spectral_cluster(weights, n_clusters=8, tol=1e-8, seed=s) for s in range(4)]
    for r in runs[1:]:
        for a, b in zip(r.labels, runs[0].labels):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("assign_labels", ["cluster_qr", "kmeans"])
def test_refined_labels_admit_no_improving_move(assign_labels):
    weights = random_pruned_mlp((30, 24, 20, 6), sparsity=0.6, seed=4)
    adj, _ = oracles.live_adjacency(weights)
    res = modcore.spectral_cluster(
        weights, n_clusters=4, assign_labels=assign_labels, refine=True, seed=1
    )
    labels = live_labels(res, weights)
    assert np.bincount(labels, minlength=4).min() >= 1
    assert oracles.improving_moves(adj, labels) == []
    unrefined = modcore.spectral_cluster(
        weights, n_clusters=4, assign_labels=assign_labels, refine=False, seed=1
    )
    assert oracles.improving_moves(adj, live_labels(unrefined, weights)) != []
    assert res.ncut < unrefined.ncut
    assert res.ncut == pytest.approx(oracles.ncut(adj, labels), rel=1e-9)


@pytest.mark.parametrize("refine", [False, True])
def test_select_by_ncut_keeps_the_lowest_restart(refine):
    """The same restarts (stream (seed, r)), so the n-cut pick is never above the inertia pick."""
    for seed in range(3):
        weights = random_pruned_mlp((150, 100, 100, 10), sparsity=0.85, seed=seed)
        kw = dict(n_clusters=8, assign_labels="kmeans", n_init=6, refine=refine, seed=seed)
        by_ncut = modcore.spectral_cluster(weights, select_by="ncut", **kw)
        by_inertia = modcore.spectral_cluster(weights, select_by="inertia", **kw)
        assert by_ncut.ncut <= by_inertia.ncut
        assert by_inertia.inertia <= by_ncut.inertia


@pytest.mark.parametrize(
    "rule",
    [
        dict(assign_labels="cluster_qr"),
        dict(assign_labels="kmeans", select_by="ncut"),
        dict(assign_labels="kmeans", refine=False),
    ],
)
def test_every_rule_is_the_same_on_any_thread_count(rule):
    weights = random_pruned_mlp((300, 200, 200, 10), sparsity=0.9, seed=0)
    a = modcore.spectral_cluster(weights, seed=7, n_jobs=1, **rule)
    b = modcore.spectral_cluster(weights, seed=7, n_jobs=2, **rule)
    for la, lb in zip(a.labels, b.labels):
        np.testing.assert_array_equal(la, lb)
    s1 = modcore.ncut_significance(weights, n_shuffles=4, seed=3, n_jobs=1, progress=False, **rule)
    s2 = modcore.ncut_significance(weights, n_shuffles=4, seed=3, n_jobs=2, progress=False, **rule)
    np.testing.assert_array_equal(s1.shuffled_ncuts, s2.shuffled_ncuts)


def test_the_rule_is_recorded_in_the_results():
    weights = random_pruned_mlp((40, 30, 20), sparsity=0.5, seed=0)
    res = modcore.ncut_significance(
        weights,
        n_clusters=3,
        n_shuffles=3,
        seed=0,
        progress=False,
        assign_labels="kmeans",
        refine=False,
        select_by="ncut",
    )
    d = res.to_dict()
    assert (d["assign_labels"], d["refine"], d["select_by"]) == ("kmeans", False, "ncut")
    c = res.clustering
    assert (c.assign_labels, c.refine, c.select_by) == ("kmeans", False, "ncut")
