"""Degenerate but valid networks give a result: star-like graphs (a layer with one
or two live units, whose normalized adjacency has a huge null space) and weights
of extreme range. Eigenvalues are checked against scipy's dense solver, the
vectors against the eigen-equation itself (a repeated eigenvalue has no unique
basis to compare with)."""

import functools

import numpy as np
import pytest
import scipy.linalg
from scipy import sparse

import modcore
import oracles
from modcore import _core
from modcore.network.network import Network
from modcore.network.synthetic import random_pruned_mlp


def star(widths, seed=0):
    """A chain whose narrow layers make the graph star-like; every weight non-zero."""
    rng = np.random.default_rng(seed)
    return [rng.uniform(0.5, 2.0, size=(a, b)) for a, b in zip(widths[:-1], widths[1:])]


def pruned_to_one_hidden_unit(seed=0):
    """A pruned 300-100-100-10 net in which only hidden unit 7 of layer 1 survives."""
    w = random_pruned_mlp((300, 100, 100, 10), sparsity=0.5, seed=seed)
    keep = np.zeros(100, bool)
    keep[7] = True
    w[0][:, ~keep] = 0.0
    w[1][~keep, :] = 0.0
    return w


STARS = {
    "1000-1-1000": lambda: star((1000, 1, 1000)),
    "784-1-10": lambda: star((784, 1, 10)),
    "300-2-300": lambda: star((300, 2, 300)),
    "pruned to one hidden unit": pruned_to_one_hidden_unit,
}


@functools.lru_cache
def oracle_eigenvalues(name):
    """All eigenvalues of the star's normalized adjacency, descending, and the adjacency.

    A graph with a single hub (every edge touches it) has rank-2 N = [[0, c], [c^T, 0]]
    with |c| = 1: eigenvalues 1, -1 and n - 2 zeros, exactly. Other stars: scipy.
    """
    adj, _ = oracles.live_adjacency(STARS[name]())
    n = adj.shape[0]
    if "-1-" in name:
        return np.concatenate([[1.0], np.zeros(n - 2), [-1.0]]), adj
    dense = oracles.normalized_adjacency(adj).toarray()
    return scipy.linalg.eigvalsh(dense)[::-1], adj


def n_live(weights):
    return int(oracles.live_adjacency(weights)[1].sum())


@pytest.mark.parametrize("name", STARS)
@pytest.mark.parametrize("method", ["auto", "bipartite", "full", "dense"])
def test_star_like_spectrum_matches_scipy(name, method):
    weights = STARS[name]()
    k = 12
    n = n_live(weights)
    if method == "dense" and n > 1000:
        with pytest.raises(ValueError, match="too many for a dense eigendecomposition"):
            _core.spectral_embedding(*Network.from_weights(weights).to_core(), k, 1e-10, method)
        return
    if method == "full" and n > 1000:
        # Lanczos cannot resolve the repeated eigenvalue 0, and the dense fallback
        # is too large: a clear error naming the way out.
        with pytest.raises(RuntimeError, match="eigen_method 'auto'"):
            _core.spectral_embedding(*Network.from_weights(weights).to_core(), k, 1e-10, method)
        return
    res = _core.spectral_embedding(*Network.from_weights(weights).to_core(), k, 1e-10, method)
    expected, adj = oracle_eigenvalues(name)
    np.testing.assert_allclose(res["eigenvalues"], expected[:k], atol=1e-8)
    if method == "full":  # Lanczos fails on the null space; the dense solve takes over
        assert res["eigen_method"] in ("full", "dense")
    elif method != "auto":
        assert res["eigen_method"] == method

    # Undo the D^-1/2 row scaling: the columns must be orthonormal eigenvectors of N.
    sizes = [weights[0].shape[0]] + [w.shape[1] for w in weights]
    flat = np.concatenate([[0], np.cumsum(sizes)])[res["node_group"]] + res["node_index"]
    live = np.flatnonzero(oracles.live_adjacency(weights)[1])
    order = np.searchsorted(live, flat)
    deg = np.asarray(adj.sum(axis=1)).ravel()[order]
    x = res["embedding"] * np.sqrt(deg)[:, None]
    x /= np.linalg.norm(x, axis=0)
    n_mat = oracles.normalized_adjacency(adj)[order][:, order]
    np.testing.assert_allclose(x.T @ x, np.eye(k), atol=1e-8)
    np.testing.assert_allclose(n_mat @ x, x * res["eigenvalues"], atol=1e-8)


@pytest.mark.parametrize("name", STARS)
def test_star_like_networks_cluster_and_test(name):
    weights = STARS[name]()
    sig = modcore.ncut_significance(weights, n_clusters=4, n_shuffles=3, seed=0, progress=False)
    adj, live = oracles.live_adjacency(weights)
    flat = np.concatenate(sig.labels)
    assert sig.ncut == pytest.approx(oracles.ncut(adj, flat[live]), rel=1e-9)
    assert np.isfinite(sig.shuffled_ncuts).all()


def test_precomputed_star_falls_back_to_the_dense_solve():
    # A star as one group with a self-block: not bipartite by its groups, so Lanczos
    # on N is tried, stalls on the repeated 0, and the dense solve answers.
    n = 400
    rows, cols = np.zeros(n - 1, int), np.arange(1, n)
    a = sparse.coo_matrix((np.ones(n - 1), (rows, cols)), shape=(n, n))
    a = (a + a.T).tocsr()
    res = modcore.spectral_cluster(a, n_clusters=3, seed=0)
    expected = scipy.linalg.eigvalsh(oracles.normalized_adjacency(a).toarray())[::-1][:3]
    np.testing.assert_allclose(res.eigenvalues, expected, atol=1e-8)
    assert res.eigen_method in ("full", "dense")


def test_dense_eigensolve_is_refused_above_its_limit():
    w = random_pruned_mlp((1000, 1000, 1000), sparsity=0.99, seed=0)
    with pytest.raises(ValueError, match=r"eigen_method 'dense'.*at most 1000"):
        modcore.spectral_cluster(w, n_clusters=3, eigen_method="dense", seed=0)


def test_too_many_eigenvectors_for_lanczos_is_refused():
    # Both sides of the bipartition exceed the dense limit, so only Lanczos could
    # answer, and 599 vectors are more than it is asked for at once.
    w = random_pruned_mlp((1200, 1200, 1200), sparsity=0.995, seed=0)
    with pytest.raises(ValueError, match="use at most"):
        modcore.spectral_cluster(w, n_clusters=600, seed=0)


def test_subnormal_edge_beside_a_huge_weight():
    # 5e-324 / 1e10 underflows to 0: that edge is absent, so input unit 0 (whose
    # only edge it is) drops out; everything else is clustered as without it.
    w = random_pruned_mlp((40, 30, 20), sparsity=0.3, seed=0)
    w[0][0, :] = 0.0
    w[0][0, 3] = 5e-324
    w[1][2, 5] = 1e10
    res = modcore.spectral_cluster(w, n_clusters=4, seed=0)
    assert res.labels[0][0] == -1
    without = [a.copy() for a in w]
    without[0][0, 3] = 0.0
    adj, live = oracles.live_adjacency(without)
    flat = np.concatenate(res.labels)
    assert res.ncut == pytest.approx(oracles.ncut(adj, flat[live]), rel=1e-9)
    sig = modcore.ncut_significance(w, n_clusters=4, n_shuffles=5, seed=0, progress=False)
    assert np.isfinite(sig.shuffled_ncuts).all() and np.isfinite(sig.z_score)


@pytest.mark.parametrize("scale", [1e300, 1e-300])
@pytest.mark.parametrize("shuffle", ["layer_nonzero_distribution", "layer_all_distribution"])
def test_kde_nulls_are_scale_equivariant_at_extreme_scales(scale, shuffle):
    # The KDE draws use one stream of standard normals and picks: at any scale they
    # are the unit-scale draws times the scale, as long as nothing over/underflows.
    w = random_pruned_mlp((30, 20, 10), sparsity=0.5, seed=1)
    unit = modcore.shuffled_network(w, shuffle=shuffle, seed=4, index=2).chain_weights()
    scaled = modcore.shuffled_network(
        [a * scale for a in w], shuffle=shuffle, seed=4, index=2
    ).chain_weights()
    for a, b in zip(unit, scaled):
        assert np.isfinite(b).all()
        np.testing.assert_allclose(b / scale, a, rtol=1e-9, atol=0)


def test_kde_null_near_the_largest_double_stays_finite():
    w = random_pruned_mlp((30, 20, 10), sparsity=0.5, seed=1)
    w = [a / np.abs(a).max() * 1e308 for a in w]
    sig = modcore.ncut_significance(
        w, n_clusters=3, n_shuffles=4, seed=0, progress=False, shuffle="layer_nonzero_distribution"
    )
    assert np.isfinite(sig.shuffled_ncuts).all()
    for a in modcore.shuffled_network(w, shuffle="layer_all_distribution", seed=0).chain_weights():
        assert np.isfinite(a).all()
