"""The drop rules: which units the graph leaves out, for the network and every shuffle.

"isolated" drops units without edges (the authors' TensorFlow code); "unreachable" also
drops every connected component without a unit in both the first and the last group (the
authors' PyTorch port, whose delete_isolated_ccs is the oracle here, written out in
oracles.reach with scipy's connected components).
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import modcore
import oracles
from modcore.network.synthetic import random_pruned_mlp
from oracles import null_clustering_seed

# Sparse enough that some components miss an end: 5 isolated units and a 2-unit
# component that reaches only one end; "layer" shuffles move the zeros, so each
# shuffled network has its own.
SPARSE = dict(widths=(24, 20, 16, 8), sparsity=0.9, seed=0)


@pytest.fixture(scope="module")
def sparse():
    return random_pruned_mlp(**SPARSE)


def floating_net():
    """A pruned MLP with a 2-unit fragment in its middle that touches neither end
    (units 0 of layers 2 and 3 joined only to each other), as in the issue."""
    w = [a.copy() for a in random_pruned_mlp((60, 40, 40, 40, 10), sparsity=0.8, seed=1)]
    w[1][:, 0] = 0
    w[2][0, :] = 0
    w[2][:, 0] = 0
    w[3][0, :] = 0
    w[2][0, 0] = 1.0
    return w


def masks(weights):
    adj, offsets = oracles.adjacency(weights)
    return oracles.reach(adj, offsets)


def flat(labels):
    return np.concatenate(labels)


NETS = [
    ("sparse", lambda: random_pruned_mlp(**SPARSE)),
    ("sparser", lambda: random_pruned_mlp((30, 24, 20, 6), sparsity=0.92, seed=3)),
    ("dense", lambda: random_pruned_mlp((20, 16, 8), sparsity=0.5, seed=1)),
    ("floating", floating_net),
]


@pytest.mark.parametrize("drop", ["isolated", "unreachable"])
@pytest.mark.parametrize("make", [m for _, m in NETS], ids=[n for n, _ in NETS])
def test_units_left_out_are_the_oracles(make, drop):
    w = make()
    isolated, unreachable, floating = masks(w)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", modcore.FloatingUnitsWarning)
        c = modcore.spectral_cluster(w, n_clusters=3, drop=drop, seed=0)
    assert (c.n_isolated, c.n_unreachable, c.n_floating) == (
        isolated.sum(),
        unreachable.sum(),
        floating.sum(),
    )
    gone = isolated | unreachable if drop == "unreachable" else isolated
    np.testing.assert_array_equal(flat(c.labels) < 0, gone)
    assert c.n_dropped == gone.sum() and c.drop == drop
    # What "unreachable" is for: these nets do have such units (but "dense").
    assert unreachable.any() == (make is not NETS[2][1])


def test_unreachable_is_the_port_deleting_the_components(sparse):
    isolated, unreachable, _ = masks(sparse)
    gone = isolated | unreachable
    # The port's way: delete those units' rows and columns, then cluster what is left.
    sizes = [sparse[0].shape[0]] + [a.shape[1] for a in sparse]
    keep = np.split(~gone, np.cumsum(sizes)[:-1])
    reduced = [a[keep[l]][:, keep[l + 1]] for l, a in enumerate(sparse)]
    ours = modcore.spectral_cluster(sparse, n_clusters=4, drop="unreachable", seed=0)
    theirs = modcore.spectral_cluster(reduced, n_clusters=4, seed=0)
    assert theirs.n_dropped == 0
    assert ours.ncut == pytest.approx(theirs.ncut, rel=1e-12)
    np.testing.assert_array_equal(flat(ours.labels)[~gone], flat(theirs.labels))
    adj, _ = oracles.adjacency(sparse)
    live = ~gone
    assert ours.ncut == pytest.approx(
        oracles.ncut(adj[live][:, live], flat(ours.labels)[live]), rel=1e-10
    )
    # With "isolated" the 2-unit component takes a module of its own at zero cut.
    plain = modcore.spectral_cluster(sparse, n_clusters=4, seed=0)
    assert plain.ncut < ours.ncut - 0.1


def test_a_floating_fragment_takes_a_module_and_the_default_warns():
    w = floating_net()
    with pytest.warns(modcore.FloatingUnitsWarning, match="2 units with edges .*'layer 4'"):
        plain = modcore.spectral_cluster(w, n_clusters=12, seed=0)
    a, b = plain.labels[2][0], plain.labels[3][0]
    assert a == b and (flat(plain.labels) == a).sum() == 2  # a module of its own
    with warnings.catch_warnings():
        warnings.simplefilter("error", modcore.FloatingUnitsWarning)
        port = modcore.spectral_cluster(w, n_clusters=12, drop="unreachable", seed=0)
    assert port.labels[2][0] == port.labels[3][0] == -1
    # Without the fragment's edge its two units are isolated: the same graph as the port's.
    cut = [a.copy() for a in w]
    cut[2][0, 0] = 0
    alone = modcore.spectral_cluster(cut, n_clusters=12, seed=0)
    assert alone.n_floating == 0 and port.ncut == pytest.approx(alone.ncut, rel=1e-9)
    assert plain.ncut < port.ncut


def test_no_warning_without_a_fragment_that_misses_both_ends(sparse):
    assert masks(sparse)[1].sum() == 2 and masks(sparse)[2].sum() == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", modcore.FloatingUnitsWarning)
        modcore.spectral_cluster(sparse, n_clusters=3, seed=0)
        modcore.ncut_significance(sparse, n_clusters=3, n_shuffles=2, seed=0, progress=False)


@pytest.mark.parametrize("drop", ["isolated", "unreachable"])
@pytest.mark.parametrize("shuffle", ["layer", "layer_nonzero"])
def test_every_shuffled_network_is_pruned_by_the_rule(sparse, shuffle, drop):
    sig = modcore.ncut_significance(
        sparse, n_clusters=3, n_shuffles=6, shuffle=shuffle, drop=drop, seed=5, progress=False
    )
    extra = 0
    for index in range(6):
        w = modcore.shuffled_network(sparse, shuffle=shuffle, seed=5, index=index).chain_weights()
        isolated, unreachable, _ = masks(w)
        extra += unreachable.sum()
        gone = isolated | unreachable if drop == "unreachable" else isolated
        assert sig.shuffled_n_dropped[index] == gone.sum()
        alone = modcore.spectral_cluster(
            w, n_clusters=3, drop=drop, seed=null_clustering_seed(5, index)
        )
        assert alone.ncut == pytest.approx(sig.shuffled_ncuts[index], rel=1e-10)
    assert extra > 0  # the rule has something to do in these shuffles
    if shuffle == "layer":  # the zeros move: each shuffle leaves out its own units
        assert len(set(sig.shuffled_n_dropped.tolist())) > 1
    assert sig.drop == drop and sig.n_dropped == sig.clustering.n_dropped


def test_the_rule_reaches_every_entry_point(sparse, pd_or_none):
    opts = dict(n_clusters=3, seed=1)
    port = modcore.spectral_cluster(sparse, drop="unreachable", **opts)
    plain = modcore.spectral_cluster(sparse, **opts)
    assert port.n_dropped == 7 and plain.n_dropped == 5

    # Scores of given labels: the unreachable units' labels are not read...
    assert modcore.ncut(sparse, port.labels, drop="unreachable") == pytest.approx(port.ncut)
    assert modcore.modularity(sparse, port.labels, drop="unreachable") == pytest.approx(
        port.modularity
    )
    # ... while "isolated" keeps their edges, so a -1 there is refused.
    with pytest.raises(ValueError, match="has edges but label -1"):
        modcore.ncut(sparse, port.labels)

    sig = modcore.ncut_significance(
        sparse, n_shuffles=4, drop="unreachable", progress=False, **opts
    )
    one_k = modcore.ncut_curve(
        sparse, ks=[3], n_shuffles=4, drop="unreachable", seed=1, progress=False
    ).significances[0]
    assert one_k.to_dict() == sig.to_dict()

    stab = modcore.stability(sparse, n_seeds=2, drop="unreachable", **opts)
    assert stab.ncuts[0] == port.ncut

    # The spectrum: one eigenvalue 0 per component; "unreachable" has one component fewer.
    for drop, clustering in (("isolated", plain), ("unreachable", port)):
        gap = modcore.eigengap(sparse, max_k=6, n_shuffles=0, drop=drop, seed=0)
        assert np.count_nonzero(gap.eigenvalues < 1e-9) == clustering.n_components
    assert plain.n_components == port.n_components + 1

    if pd_or_none is not None:
        row = modcore.sweep({"a": sparse}, n_shuffles=4, drop="unreachable", progress=False, **opts)
        assert row["ncut"][0] == sig.ncut and row["n_dropped"][0] == 7
        assert row["drop"][0] == "unreachable"


@pytest.fixture
def pd_or_none():
    try:
        import pandas
    except ImportError:
        return None
    return pandas


def test_first_and_last_group_of_a_general_network():
    # Groups a, b, c, d with a skip block a -> d: a component reaching d through the skip
    # alone is kept; one living in b and c only is dropped.
    a_b = np.zeros((3, 2))
    a_b[0, 0] = 1.0
    b_c = np.zeros((2, 2))
    b_c[0, 0] = b_c[1, 1] = 1.0
    c_d = np.zeros((2, 2))
    c_d[0, 0] = 1.0
    a_d = np.zeros((3, 2))
    a_d[1, 1] = a_d[2, 1] = 1.0
    groups = [("a", 3), ("b", 2), ("c", 2), ("d", 2)]
    blocks = [("a", "b", a_b), ("b", "c", b_c), ("c", "d", c_d), ("a", "d", a_d)]
    net = modcore.Network(groups, blocks)
    offsets = np.cumsum([0, 3, 2, 2, 2])
    isolated, unreachable, floating = oracles.reach(
        oracles.block_adjacency(groups, blocks), offsets
    )
    assert unreachable.sum() == floating.sum() == 2  # b1 and c1
    c = modcore.spectral_cluster(net, n_clusters=2, drop="unreachable", seed=0)
    np.testing.assert_array_equal(flat(c.labels) < 0, isolated | unreachable)
    assert (c.n_isolated, c.n_unreachable, c.n_floating) == (0, 2, 2)


def test_drop_counts_of_a_network(sparse):
    isolated, unreachable, floating = masks(sparse)
    counts = modcore.Network.from_weights(sparse).drop_counts()
    assert counts == {
        "n_units": sum([sparse[0].shape[0]] + [a.shape[1] for a in sparse]),
        "n_isolated": isolated.sum(),
        "n_unreachable": unreachable.sum(),
        "n_floating": floating.sum(),
    }


def test_bad_drop_values_and_networks_without_ends(sparse):
    # drop="components" and other values: test_settings.py
    adjacency = sp.random(20, 20, density=0.3, random_state=0)
    adjacency = adjacency + adjacency.T
    with pytest.raises(ValueError, match=r"one group .* drop='isolated'"):
        modcore.spectral_cluster(adjacency, n_clusters=2, drop="unreachable")
    # Nothing joins the input to the output.
    cut = [np.ones((3, 3)), np.zeros((3, 3)), np.ones((3, 2))]
    with pytest.raises(ValueError, match=r"no connected component .* joins"):
        modcore.spectral_cluster(cut, n_clusters=2, drop="unreachable")
    # A single path input -> hidden -> output: a "layer" shuffle that puts the two edges
    # on different hidden units leaves no component with both ends.
    path = [np.zeros((4, 4)), np.zeros((4, 4))]
    path[0][0, 0] = path[1][0, 0] = 1.0

    def broken(seed):
        into, out = modcore.shuffled_network(path, seed=seed).chain_weights()
        return not (into.any(axis=0) & out.any(axis=1)).any()

    seed = next(s for s in range(100) if broken(s))
    with pytest.raises(ValueError, match="shuffled network 0: no connected component"):
        modcore.ncut_significance(
            path, n_clusters=2, n_shuffles=1, drop="unreachable", seed=seed, progress=False
        )


def test_results_report_what_was_dropped(sparse):
    c = modcore.spectral_cluster(sparse, n_clusters=3, drop="unreachable", seed=0)
    assert "dropped=7 (5 isolated, 2 unreachable)" in repr(c)
    d = c.to_dict()
    assert (d["drop"], d["n_dropped"], d["n_isolated"], d["n_unreachable"]) == (
        "unreachable",
        7,
        5,
        2,
    )
    sig = modcore.ncut_significance(
        sparse, n_clusters=3, n_shuffles=3, drop="unreachable", seed=0, progress=False
    )
    assert "dropped=7 (5 isolated, 2 unreachable)" in repr(sig)
    d = sig.to_dict()
    assert d["n_dropped"] == 7 and d["n_unreachable"] == 2 and d["drop"] == "unreachable"
    assert d["shuffled_n_dropped"] == sig.shuffled_n_dropped.tolist()
    plain = modcore.spectral_cluster(sparse, n_clusters=3, seed=0)
    assert "dropped=5 (isolated)" in repr(plain)
