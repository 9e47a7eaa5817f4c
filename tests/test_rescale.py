"""normalize="rescale": the authors' PyTorch port's function-preserving rescaling, applied
to the network and to every shuffled network after shuffling.

The oracle is oracles.rescaled, the port's normalize_weights_array written out in numpy
(modcore's (n_in, n_out) layout); that it preserves a ReLU network's function is checked
in torch.
"""

import copy

import numpy as np
import pytest
import scipy.sparse as sp

import modcore
import oracles
from modcore.network.synthetic import random_pruned_mlp
from oracles import null_clustering_seed


def with_dead_unit():
    """A pruned net whose hidden unit 0 of layer 1 has no incoming weight (s = 1e-5)."""
    w = [a.copy() for a in random_pruned_mlp((16, 12, 10, 4), sparsity=0.6, seed=2)]
    w[0][:, 0] = 0
    return w


NETS = {
    "pruned": lambda: random_pruned_mlp((24, 20, 16, 8), sparsity=0.7, seed=0),
    "dense": lambda: random_pruned_mlp((12, 10, 9, 3), sparsity=0.0, seed=1),
    "dead unit": with_dead_unit,
    "float32": lambda: [
        a.astype(np.float32) for a in random_pruned_mlp((20, 15, 5), sparsity=0.5, seed=3)
    ],
}


def random_labels(weights, k, seed):
    rng = np.random.default_rng(seed)
    sizes = [weights[0].shape[0]] + [a.shape[1] for a in weights]
    return [rng.integers(0, k, size=n) for n in sizes]


def ncut_by_hand(weights, labels):
    adj, _ = oracles.adjacency(weights)
    return oracles.ncut(adj, np.concatenate(labels))


def test_the_rescaled_mlp_computes_the_same_function():
    torch = pytest.importorskip("torch")
    from torch import nn

    def mlp():
        return nn.Sequential(
            nn.Linear(7, 6),
            nn.ReLU(),
            nn.Linear(6, 5),
            nn.ReLU(),
            nn.Linear(5, 4),
            nn.ReLU(),
            nn.Linear(4, 3),
        ).double()

    torch.manual_seed(0)
    model = mlp()
    linears = [m for m in model if isinstance(m, nn.Linear)]
    weights = [m.weight.detach().numpy().T for m in linears]
    biases = [m.bias.detach().numpy() for m in linears]
    new_w, new_b = oracles.rescaled(weights, biases)
    # Every hidden unit's incoming weights now have norm 1 (up to the 1e-5 in s).
    for a in new_w[:-1]:
        np.testing.assert_allclose(np.linalg.norm(a, axis=0), 1.0, atol=1e-4)
    rescaled = mlp()
    with torch.no_grad():
        for m, a, b in zip([m for m in rescaled if isinstance(m, nn.Linear)], new_w, new_b):
            m.weight.copy_(torch.from_numpy(a.T))
            m.bias.copy_(torch.from_numpy(b))
        x = torch.randn(64, 7, dtype=torch.float64)
        torch.testing.assert_close(rescaled(x), model(x), rtol=1e-10, atol=1e-12)
    assert not np.allclose(new_w[1], weights[1])  # the weights did change


@pytest.mark.parametrize("make", NETS.values(), ids=NETS.keys())
def test_ncut_on_rescaled_weights_is_the_formula_by_hand(make):
    w = make()
    by_hand = oracles.rescaled(w)
    for seed in range(3):
        labels = random_labels(w, 4, seed)
        assert modcore.ncut(w, labels, normalize="rescale") == pytest.approx(
            ncut_by_hand(by_hand, labels), rel=1e-9
        )
        expected_q = modcore.modularity(by_hand, labels)
        assert modcore.modularity(w, labels, normalize="rescale") == pytest.approx(
            expected_q, rel=1e-9, abs=1e-12
        )
    # The clustering sees the same graph as modcore's plain clustering of the weights
    # rescaled by hand.
    ours = modcore.spectral_cluster(w, n_clusters=3, normalize="rescale", seed=0)
    plain = modcore.spectral_cluster(by_hand, n_clusters=3, seed=0)
    assert ours.ncut == pytest.approx(plain.ncut, rel=1e-9)
    assert [np.array_equal(a, b) for a, b in zip(ours.labels, plain.labels)] == [True] * len(
        ours.labels
    )


def test_the_layers_are_rescaled_in_order():
    # Norms taken from the original weights instead of the already rescaled ones (all
    # layers at once) give another graph, which the test above would tell apart.
    w = NETS["pruned"]()
    at_once = [a.copy() for a in w]
    for l in range(len(w) - 1):
        s = np.linalg.norm(w[l], axis=0) + 1e-5
        at_once[l] = at_once[l] / s
        at_once[l + 1] = at_once[l + 1] * s[:, None]
    labels = random_labels(w, 4, 0)
    assert ncut_by_hand(at_once, labels) != pytest.approx(
        ncut_by_hand(oracles.rescaled(w), labels), rel=1e-6
    )
    assert modcore.ncut(w, labels, normalize="rescale") == pytest.approx(
        ncut_by_hand(oracles.rescaled(w), labels), rel=1e-9
    )


@pytest.mark.parametrize("shuffle", modcore.SHUFFLES)
def test_every_shuffled_network_is_rescaled_after_shuffling(shuffle):
    w = NETS["pruned"]()
    sig = modcore.ncut_significance(
        w,
        n_clusters=3,
        n_shuffles=4,
        shuffle=shuffle,
        normalize="rescale",
        seed=5,
        progress=False,
    )
    for index in range(4):
        shuffled = modcore.shuffled_network(w, shuffle=shuffle, seed=5, index=index).chain_weights()
        alone = modcore.spectral_cluster(
            oracles.rescaled(shuffled), n_clusters=3, seed=null_clustering_seed(5, index)
        )
        assert alone.ncut == pytest.approx(sig.shuffled_ncuts[index], rel=1e-9)
    plain = modcore.ncut_significance(
        w, n_clusters=3, n_shuffles=4, shuffle=shuffle, seed=5, progress=False
    )
    assert not np.allclose(plain.shuffled_ncuts, sig.shuffled_ncuts)
    assert sig.normalize == "rescale" and "normalize='rescale'" in repr(sig)
    assert sig.to_dict()["normalize"] == "rescale"


def test_rescale_reaches_every_entry_point():
    w = NETS["pruned"]()
    by_hand = oracles.rescaled(w)
    opts = dict(n_clusters=3, seed=1)
    ours = modcore.spectral_cluster(w, normalize="rescale", **opts)
    assert ours.normalize == "rescale" and "normalize='rescale'" in repr(ours)
    sig = modcore.ncut_significance(w, n_shuffles=3, normalize="rescale", progress=False, **opts)
    one_k = modcore.ncut_curve(
        w, ks=[3], n_shuffles=3, normalize="rescale", seed=1, progress=False
    ).significances[0]
    assert one_k.to_dict() == sig.to_dict()
    assert modcore.stability(w, n_seeds=2, normalize="rescale", **opts).ncuts[0] == ours.ncut
    gap = modcore.eigengap(w, max_k=6, n_shuffles=0, normalize="rescale", seed=0)
    np.testing.assert_allclose(
        gap.eigenvalues,
        modcore.eigengap(by_hand, max_k=6, n_shuffles=0, seed=0).eigenvalues,
        atol=1e-8,
    )
    pytest.importorskip("pandas")
    row = modcore.sweep({"a": w}, n_shuffles=3, normalize="rescale", progress=False, **opts)
    assert row["ncut"][0] == sig.ncut and row["normalize"][0] == "rescale"


def test_a_network_with_a_skip_block():
    # Groups a -> b -> c -> d and a skip a -> c: c's incoming weights come from b (already
    # scaled by b's factors) and from a.
    rng = np.random.default_rng(4)
    ab, bc, cd, ac = (rng.normal(size=s) for s in [(4, 3), (3, 3), (3, 2), (4, 3)])
    groups = [("a", 4), ("b", 3), ("c", 3), ("d", 2)]
    net = modcore.Network(groups, [("a", "b", ab), ("b", "c", bc), ("c", "d", cd), ("a", "c", ac)])
    s_b = np.linalg.norm(ab, axis=0) + 1e-5
    ab2, bc2 = ab / s_b, bc * s_b[:, None]
    s_c = np.sqrt((bc2**2).sum(axis=0) + (ac**2).sum(axis=0)) + 1e-5
    bc2, ac2, cd2 = bc2 / s_c, ac / s_c, cd * s_c[:, None]
    by_hand = [("a", "b", ab2), ("b", "c", bc2), ("c", "d", cd2), ("a", "c", ac2)]

    # The same function, with ReLU after b and c.
    def relu(x):
        return np.maximum(x, 0)

    x = rng.normal(size=(50, 4))
    np.testing.assert_allclose(
        relu(relu(x @ ab2) @ bc2 + x @ ac2) @ cd2, relu(relu(x @ ab) @ bc + x @ ac) @ cd
    )
    labels = [rng.integers(0, 3, size=n) for _, n in groups]
    expected = oracles.ncut(oracles.block_adjacency(groups, by_hand), np.concatenate(labels))
    assert modcore.ncut(net, labels, normalize="rescale") == pytest.approx(expected, rel=1e-10)


def test_a_traced_conv_net_with_l2_kernel_norms_is_the_rescaled_conv_net():
    torch = pytest.importorskip("torch")
    from torch import nn

    torch.manual_seed(1)
    model = nn.Sequential(
        nn.Conv2d(2, 4, 3),
        nn.ReLU(),
        nn.Conv2d(4, 5, 3),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(5 * 2 * 2, 3),
    ).double()
    rescaled = copy.deepcopy(model)
    conv1, conv2, fc = rescaled[0], rescaled[2], rescaled[5]
    with torch.no_grad():  # the port's rule on the kernels: each out-channel's whole kernel
        s1 = conv1.weight.flatten(1).norm(dim=1) + 1e-5
        conv1.weight /= s1[:, None, None, None]
        conv1.bias /= s1
        conv2.weight *= s1[None, :, None, None]
        s2 = conv2.weight.flatten(1).norm(dim=1) + 1e-5
        conv2.weight /= s2[:, None, None, None]
        conv2.bias /= s2
        fc.weight *= s2.repeat_interleave(4)[None, :]  # flattened channel-major, 2x2 each
        x = torch.randn(8, 2, 6, 6, dtype=torch.float64)
        torch.testing.assert_close(rescaled(x), model(x))
    shape = (2, 6, 6)
    ours = modcore.Network.from_torch(model, input_shape=shape, kernel_norm="l2")
    theirs = modcore.Network.from_torch(rescaled, input_shape=shape, kernel_norm="l2")
    rng = np.random.default_rng(0)
    for _ in range(3):
        labels = [rng.integers(0, 3, size=n) for n in ours.sizes]
        assert modcore.ncut(ours, labels, normalize="rescale") == pytest.approx(
            modcore.ncut(theirs, labels), rel=1e-9
        )


def test_bad_values_and_graphs_it_does_not_apply_to():
    w = NETS["dense"]()
    # normalize="l2" and other values: test_settings.py
    adjacency = sp.random(20, 20, density=0.3, random_state=0)
    with pytest.raises(ValueError, match="joins a group to itself"):
        modcore.spectral_cluster(adjacency + adjacency.T, n_clusters=2, normalize="rescale")
    # Huge weights: a clear error when the rescaled values overflow, else no harm.
    with pytest.raises(ValueError, match="overflowed"):
        modcore.spectral_cluster([a * 1e200 for a in w], n_clusters=3, normalize="rescale")
    big = [a * 1e100 for a in w]
    labels = random_labels(w, 3, 0)
    assert modcore.ncut(big, labels, normalize="rescale") == pytest.approx(
        ncut_by_hand(oracles.rescaled(big), labels), rel=1e-9
    )
