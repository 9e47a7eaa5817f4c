import numpy as np
import pytest
import scipy.linalg
import scipy.sparse.linalg as sla

import oracles
from modcore import _core
from modcore.network.network import Network
from modcore.network.synthetic import planted_modular_mlp, random_pruned_mlp


def oracle_top(weights, k):
    adj, live = oracles.live_adjacency(weights)
    n_mat = oracles.normalized_adjacency(adj)
    vals, vecs = sla.eigsh(n_mat, k=k, which="LA", tol=1e-12)
    order = np.argsort(vals)[::-1]
    return vals[order], vecs[:, order], adj, live


def core_node_order(res, weights):
    """Positions of _core's live nodes in the oracle's live-node numbering."""
    sizes = [weights[0].shape[0]] + [w.shape[1] for w in weights]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    flat = offsets[res["node_group"]] + res["node_index"]
    adj_live = oracles.live_adjacency(weights)[1]
    oracle_index = np.cumsum(adj_live) - 1
    return oracle_index[flat]


@pytest.mark.parametrize("method", ["bipartite", "full", "dense"])
@pytest.mark.parametrize("seed", [0, 1])
def test_eigenpairs_match_eigsh(method, seed):
    widths = (120, 90, 80, 60) if method != "dense" else (60, 40, 30)
    weights = random_pruned_mlp(widths, sparsity=0.7, seed=seed)
    k = 8
    vals, vecs, adj, _ = oracle_top(weights, k)
    res = _core.spectral_embedding(*Network.from_weights(weights).to_core(), k, 1e-10, method, 5)
    np.testing.assert_allclose(res["eigenvalues"], vals, atol=1e-6)

    # Undo the D^-1/2 row scaling and compare subspaces by their principal angles.
    pos = core_node_order(res, weights)
    deg = np.asarray(adj.sum(axis=1)).ravel()
    ours = np.empty_like(res["embedding"])
    ours[pos] = res["embedding"] * np.sqrt(deg[pos] / deg.max())[:, None]
    angles = scipy.linalg.subspace_angles(ours, vecs)
    assert angles.max() < 1e-4


def test_embedding_is_the_scaled_eigenvectors():
    weights = random_pruned_mlp((50, 40, 30), sparsity=0.5, seed=2)
    res = _core.spectral_embedding(*Network.from_weights(weights).to_core(), 4, 1e-10, "dense", 0)
    adj, _ = oracles.live_adjacency(weights)
    pos = core_node_order(res, weights)
    deg = np.asarray(adj.sum(axis=1)).ravel()[pos]
    x = res["embedding"] * np.sqrt(deg)[:, None]  # back to unit eigenvectors (up to scale)
    n_mat = oracles.normalized_adjacency(adj)[pos][:, pos]
    for j, lam in enumerate(res["eigenvalues"]):
        col = x[:, j] / np.linalg.norm(x[:, j])
        np.testing.assert_allclose(n_mat @ col, lam * col, atol=1e-8)


def test_methods_agree_on_eigenvalues():
    weights = random_pruned_mlp((300, 200, 200, 10), sparsity=0.9, seed=4)
    evs = [
        _core.spectral_embedding(*Network.from_weights(weights).to_core(), 12, 1e-10, m, 0)[
            "eigenvalues"
        ]
        for m in ("bipartite", "full", "dense")
    ]
    np.testing.assert_allclose(evs[0], evs[2], atol=1e-7)
    np.testing.assert_allclose(evs[1], evs[2], atol=1e-7)


def test_clustered_spectrum_of_many_equal_modules_converges():
    # 12 equal planted modules: eleven eigenvalues crowd just below 1.
    weights, _ = planted_modular_mlp((240, 240, 240, 240), 12, noise=1e-3, seed=0)
    vals, _, _, _ = oracle_top(weights, 12)
    res = _core.spectral_embedding(
        *Network.from_weights(weights).to_core(), 12, 1e-10, "bipartite", 0
    )
    np.testing.assert_allclose(res["eigenvalues"], vals, atol=1e-7)


def test_disconnected_components_are_exact_eigenvectors():
    # Three separate blocks: eigenvalue 1 three times, found without Lanczos.
    block = np.ones((100, 100))
    w = [scipy.linalg.block_diag(block, block, block)] * 2
    res = _core.spectral_embedding(*Network.from_weights(w).to_core(), 5, 1e-10, "auto", 0)
    assert res["n_components"] == 3
    np.testing.assert_allclose(res["eigenvalues"][:3], 1.0)
    vals, _, _, _ = oracle_top(w, 5)
    np.testing.assert_allclose(res["eigenvalues"], vals, atol=1e-7)
