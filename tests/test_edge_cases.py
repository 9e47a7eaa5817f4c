"""Numerical edge cases and hostile inputs: always a finite, documented result or a clear error."""

import numpy as np
import pytest
import scipy.linalg

import modcore
import oracles
from modcore.network.synthetic import planted_modular_mlp, random_pruned_mlp


@pytest.mark.parametrize("n_blocks, k", [(2, 5), (5, 3)], ids=["fewer than k", "more than k"])
def test_disconnected_components_and_k(n_blocks, k):
    rng = np.random.default_rng(0)
    blocks = [np.abs(rng.normal(size=(12, 12))) for _ in range(n_blocks)]
    w = [scipy.linalg.block_diag(*blocks)] * 2  # component b: units 12b .. 12b+11 of each layer
    res = modcore.spectral_cluster(w, n_clusters=k, seed=0)
    assert res.n_components == n_blocks
    np.testing.assert_allclose(res.eigenvalues[: min(n_blocks, k)], 1.0)
    flat = np.concatenate(res.labels)
    assert set(flat.tolist()) == set(range(k))  # every module used
    adj, _ = oracles.live_adjacency(w)
    assert res.ncut == pytest.approx(oracles.ncut(adj, flat), rel=1e-9)
    if n_blocks >= k:  # modules are unions of whole components, so nothing is cut
        assert res.ncut == 0.0
        for b in range(n_blocks):
            assert (
                len({int(lab) for layer in res.labels for lab in layer[12 * b : 12 * b + 12]}) == 1
            )


def test_symmetric_planted_network_with_repeated_eigenvalues():
    # Identical blocks, no noise between them: k components with equal spectra.
    block = np.ones((10, 10))
    w = [np.kron(np.eye(4), block)] * 3
    res = modcore.spectral_cluster(w, n_clusters=4, seed=0)
    assert res.ncut == 0.0
    groups = np.repeat(np.arange(4), 10)
    assert oracles.same_partition(np.concatenate(res.labels), np.tile(groups, 4))
    # Exactly equal weak links between the blocks: one component, repeated eigenvalues.
    linked = [np.kron(np.eye(4), block) + 1e-3 for _ in range(3)]
    res = modcore.spectral_cluster(linked, n_clusters=4, seed=0)
    assert res.n_components == 1 and np.isfinite(res.ncut)
    assert oracles.same_partition(np.concatenate(res.labels), np.tile(groups, 4))


@pytest.mark.parametrize("tiny", [1e-300, 1e-30, 5e-324])
def test_near_zero_degrees_stay_finite(tiny):
    w = random_pruned_mlp((40, 30, 20), sparsity=0.3, seed=0)
    w[0][0, :] = 0.0
    w[0][0, 0] = tiny  # input neuron 0 hangs on by one vanishing edge
    res = modcore.spectral_cluster(w, n_clusters=4, seed=0)
    assert np.isfinite(res.ncut) and np.isfinite(res.eigenvalues).all()
    assert res.labels[0][0] >= 0
    adj, live = oracles.live_adjacency(w)
    assert res.ncut == pytest.approx(oracles.ncut(adj, np.concatenate(res.labels)[live]), rel=1e-9)


@pytest.mark.parametrize("scale", [2.0**-1040, 2.0**-1070])
def test_a_network_of_subnormal_weights_is_the_network_scaled_up(scale):
    # Weights are divided by the largest |w| first; a subnormal largest |w| has no finite
    # reciprocal. Weights of 4 significant bits scaled by a power of two stay exact down
    # to 2**-1074, so the scaled net is the same graph.
    w = random_pruned_mlp((40, 30, 20), sparsity=0.3, seed=0)
    w = [np.round(15 * block / np.abs(block).max()) / 16 for block in w]
    tiny = [block * scale for block in w]
    assert all(np.array_equal(t / scale, b) for t, b in zip(tiny, w))
    assert np.abs(np.concatenate([b.ravel() for b in tiny])).max() < np.finfo(float).tiny
    res, ref = (modcore.spectral_cluster(x, n_clusters=4, seed=0) for x in (tiny, w))
    assert res.ncut == ref.ncut
    assert all(np.array_equal(a, b) for a, b in zip(res.labels, ref.labels))


def test_single_layer_network():
    w = [planted_modular_mlp((20, 30), 2, noise=0.01, seed=0)[0][0]]
    res = modcore.spectral_cluster(w, n_clusters=2, seed=0)
    assert [len(l) for l in res.labels] == [20, 30] and res.ncut < 0.1


def test_fewer_live_neurons_than_clusters():
    w = [np.zeros((5, 5)), np.zeros((5, 3))]
    w[0][0, 0] = 1.0  # two live neurons
    with pytest.raises(ValueError, match="number of live neurons"):
        modcore.spectral_cluster(w, n_clusters=3)


@pytest.mark.parametrize(
    "weights, exc, match",
    [
        ([np.array([[1, "a"]], dtype=object)], TypeError, "dtype object"),
        ([np.float64(3.0)], ValueError, "must be 2-D"),
        ([[[1.0, 2.0]]], None, None),  # nested lists are fine
        ("weights", FileNotFoundError, "no weight file"),  # a string is a path
        (None, TypeError, "list of 2-D weight arrays"),
    ],
)
def test_hostile_weight_containers(weights, exc, match):
    if exc is None:
        res = modcore.spectral_cluster(weights + [[[1.0], [1.0]]], n_clusters=2, seed=0)
        arrays = [np.array([[1.0, 2.0]]), np.array([[1.0], [1.0]])]
        assert res.ncut == modcore.spectral_cluster(arrays, n_clusters=2, seed=0).ncut
        adj, _ = oracles.live_adjacency(arrays)
        assert res.ncut == pytest.approx(oracles.ncut(adj, np.concatenate(res.labels)))
    else:
        with pytest.raises(exc, match=match):
            modcore.spectral_cluster(weights, n_clusters=2)


def test_huge_k_and_k_equal_to_live_nodes():
    w = random_pruned_mlp((6, 5, 4), sparsity=0.0, seed=0)
    res = modcore.spectral_cluster(w, n_clusters=15, seed=0)  # every neuron its own module
    assert sorted(np.concatenate(res.labels).tolist()) == list(range(15))
    with pytest.raises(ValueError, match="number of live neurons"):
        modcore.spectral_cluster(w, n_clusters=10**9)


def test_state_dict_is_read_as_a_chain():
    # torch's (out, in) layout: the 3 x 2 weight joins 2 inputs to 3 outputs.
    res = modcore.spectral_cluster({"0.weight": np.ones((3, 2))}, n_clusters=2, seed=0)
    assert [len(lab) for lab in res.labels] == [2, 3]
