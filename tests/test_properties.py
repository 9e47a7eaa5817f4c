"""Invariants of n-cut, clustering and shuffles over random networks (hypothesis)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import modcore
import oracles

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def networks(draw, max_layers=6, max_width=200):
    n_layers = draw(st.integers(1, max_layers))
    widths = draw(st.lists(st.integers(1, max_width), min_size=n_layers + 1, max_size=n_layers + 1))
    sparsity = draw(st.sampled_from([0.0, 0.5, 0.9, 0.99]))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    weights = []
    for a, b in zip(widths[:-1], widths[1:]):
        w = rng.normal(size=(a, b)) * (rng.random((a, b)) >= sparsity)
        weights.append(w.astype(dtype))
    if not any(np.any(w) for w in weights):
        weights[0][0, 0] = 1.0
    return weights


def live_count(weights):
    return int(oracles.live_adjacency(weights)[1].sum())


@SETTINGS
@given(networks(), st.integers(2, 8), st.integers(0, 2**32 - 1))
def test_ncut_properties(weights, k, seed):
    rng = np.random.default_rng(seed)
    sizes = [weights[0].shape[0]] + [w.shape[1] for w in weights]
    labels = [rng.integers(0, k, n) for n in sizes]
    value = modcore.ncut(weights, labels)
    adj, live = oracles.live_adjacency(weights)
    assert value == pytest.approx(
        oracles.ncut(adj, np.concatenate(labels)[live]), rel=1e-9, abs=1e-12
    )
    assert 0.0 <= value <= k + 1e-9
    # Renaming modules, scaling the weights and permuting neurons leave n-cut unchanged.
    rename = rng.permutation(k)
    assert modcore.ncut(weights, [rename[l] for l in labels]) == pytest.approx(
        value, rel=1e-9, abs=1e-12
    )
    # float32 inputs round when scaled, hence the looser tolerance there.
    rel = 1e-6 if weights[0].dtype == np.float32 else 1e-9
    assert modcore.ncut([w * 3.5 for w in weights], labels) == pytest.approx(
        value, rel=rel, abs=1e-12
    )
    perms = [rng.permutation(n) for n in sizes]
    permuted = [w[perms[l]][:, perms[l + 1]] for l, w in enumerate(weights)]
    assert modcore.ncut(permuted, [lab[p] for lab, p in zip(labels, perms)]) == pytest.approx(
        value, rel=1e-9, abs=1e-12
    )
    assert modcore.ncut(weights, [np.zeros(n, int) for n in sizes]) == 0.0


@SETTINGS
@given(networks(), st.integers(2, 6), st.integers(0, 2**32 - 1))
def test_drop_rules_and_rescaling_against_the_oracles(weights, k, seed):
    rng = np.random.default_rng(seed)
    sizes = [weights[0].shape[0]] + [w.shape[1] for w in weights]
    labels = [rng.integers(0, k, n) for n in sizes]
    flat = np.concatenate(labels)
    adj, offsets = oracles.adjacency(weights)
    isolated, unreachable, floating = oracles.reach(adj, offsets)
    assert modcore.Network.from_weights(weights).drop_counts() == {
        "n_units": sum(sizes),
        "n_isolated": isolated.sum(),
        "n_unreachable": unreachable.sum(),
        "n_floating": floating.sum(),
    }
    kept = ~(isolated | unreachable)
    if not kept.any():
        with pytest.raises(ValueError, match="no connected component"):
            modcore.ncut(weights, labels, drop="unreachable")
    else:
        assert modcore.ncut(weights, labels, drop="unreachable") == pytest.approx(
            oracles.ncut(adj[kept][:, kept], flat[kept]), rel=1e-9, abs=1e-12
        )
    by_hand, live = oracles.live_adjacency(oracles.rescaled(weights))
    assert modcore.ncut(weights, labels, normalize="rescale") == pytest.approx(
        oracles.ncut(by_hand, flat[live]), rel=1e-7, abs=1e-12
    )


@SETTINGS
@given(networks(max_layers=4, max_width=60), st.integers(2, 6))
# random sparse nets often have fragments off both ends; the warning is tested elsewhere
@pytest.mark.filterwarnings("ignore::modcore.method.cluster.FloatingUnitsWarning")
def test_clustering_properties(weights, k):
    if live_count(weights) < k:
        with pytest.raises(ValueError, match="n_clusters"):
            modcore.spectral_cluster(weights, n_clusters=k, seed=0)
        return
    res = modcore.spectral_cluster(weights, n_clusters=k, seed=0, n_init=3)
    assert np.isfinite(res.ncut) and 0.0 <= res.ncut <= k + 1e-9
    flat = np.concatenate(res.labels)
    adj, live = oracles.live_adjacency(weights)
    assert res.ncut == pytest.approx(oracles.ncut(adj, flat[live]), rel=1e-9, abs=1e-12)
    assert (flat[live] >= 0).all() and (flat[live] < k).all() and (flat[~live] == -1).all()
    # Weights are normalized by their largest |w|, so a power-of-two scale gives the
    # very same graph (any other scale may flip a degenerate eigenspace's basis).
    scaled = modcore.spectral_cluster([w * 0.25 for w in weights], n_clusters=k, seed=0, n_init=3)
    assert scaled.ncut == res.ncut


@SETTINGS
@given(
    networks(max_layers=3, max_width=40), st.sampled_from(modcore.SHUFFLES), st.integers(0, 1000)
)
def test_shuffle_invariants(weights, shuffle, index):
    shuffled = modcore.shuffled_network(
        weights, shuffle=shuffle, seed=index, index=index
    ).chain_weights()
    for w, s in zip(weights, shuffled):
        w = w.astype(np.float64)
        assert s.shape == w.shape
        if shuffle == "layer":
            np.testing.assert_array_equal(np.sort(s, axis=None), np.sort(w, axis=None))
        elif shuffle == "layer_nonzero":
            np.testing.assert_array_equal(s != 0, w != 0)
            np.testing.assert_array_equal(np.sort(s[s != 0]), np.sort(w[w != 0]))
        elif shuffle == "layer_nonzero_distribution":
            assert np.all(
                (s != 0) <= (w != 0)
            )  # no new positions (a KDE draw of exactly 0 drops one)
        else:
            assert np.count_nonzero(s) <= np.count_nonzero(w)
