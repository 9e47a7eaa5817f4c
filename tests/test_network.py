"""The general graph type: groups + blocks, precomputed adjacencies, non-bipartite
networks, block shuffles; checked against scipy and hand-built graphs."""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as sla

import modcore
import oracles
from modcore import Network, _core
from modcore.network.synthetic import planted_modular_mlp, random_pruned_mlp


def residual_parts(seed=0, n=80):
    """Groups and blocks of in -> h1 -> h2 -> out plus a skip in -> h2 (same parity: not
    bipartite)."""
    rng = np.random.default_rng(seed)
    w = lambda a, b: np.where(rng.random((a, b)) < 0.3, rng.normal(size=(a, b)), 0.0)  # noqa: E731
    groups = [("in", n), ("h1", n), ("h2", n), ("out", 20)]
    blocks = [
        ("in", "h1", w(n, n)),
        ("h1", "h2", w(n, n)),
        ("h2", "out", w(n, 20)),
        ("in", "h2", w(n, n)),
    ]
    return groups, blocks


def residual_network(seed=0, n=80):
    """The Network of residual_parts and its adjacency built from the parts by numpy."""
    groups, blocks = residual_parts(seed, n)
    return Network(groups, blocks), sp.csr_matrix(oracles.block_adjacency(groups, blocks))


def random_symmetric(n, density, seed):
    a = sp.random(n, n, density=density, random_state=seed, format="lil")
    a.setdiag(0)  # modcore ignores the diagonal; the oracles would count it
    a = a.tocsr()
    a.eliminate_zeros()
    return (a + a.T).tocsr()


def top_eigenvalues(adj, k):
    """k largest eigenvalues of D^-1/2 A D^-1/2 over the live nodes, by scipy."""
    live = np.asarray(adj.sum(axis=1)).ravel() > 0
    a = adj[live][:, live]
    vals = sla.eigsh(oracles.normalized_adjacency(a), k=k, which="LA", tol=1e-12)[0]
    return np.sort(vals)[::-1]


def test_chain_from_blocks_is_the_list_of_matrices():
    w = random_pruned_mlp((30, 20, 10), sparsity=0.5, seed=1)
    by_list = modcore.spectral_cluster(w, n_clusters=3, seed=4)
    named = Network([("a", 30), ("b", 20), ("c", 10)], [("a", "b", w[0]), ("b", "c", w[1])])
    assert named.is_chain and named.is_bipartite
    by_net = modcore.spectral_cluster(named, n_clusters=3, seed=4)
    assert by_net.ncut == by_list.ncut
    for a, b in zip(by_net.labels, by_list.labels):
        np.testing.assert_array_equal(a, b)
    assert by_net.group_names == ("a", "b", "c")


@pytest.mark.parametrize("skip", [False, True], ids=["chain", "triangle"])
def test_units_without_edges_change_nothing(skip):
    # 3 x 100,000 declared units, 600 edges among 300 of them: the core lists the units
    # with edges instead of a table of all units (memory follows the edges). The result
    # is the compact network's, each live unit's label at its own place, the rest -1.
    rng = np.random.default_rng(0)
    small, big = 100, 100_000
    spots = [np.sort(rng.choice(big, small, replace=False)) for _ in range(3)]
    pairs = [(0, 1), (1, 2)] + [(0, 2)] * skip
    edges = {p: (rng.integers(0, small, 200), rng.integers(0, small, 200)) for p in pairs}
    values = {p: rng.uniform(1, 2, 200) for p in pairs}

    def network(size, place):
        return Network(
            [(name, size) for name in "abc"],
            [(a, b, (place[a][r], place[b][c], values[a, b])) for (a, b), (r, c) in edges.items()],
        )

    compact = network(small, [np.arange(small)] * 3)
    spread = network(big, spots)
    assert spread.is_bipartite == compact.is_bipartite == (not skip)
    want = modcore.spectral_cluster(compact, n_clusters=4, seed=0)
    got = modcore.spectral_cluster(spread, n_clusters=4, seed=0)
    assert got.ncut == want.ncut and got.n_dropped == want.n_dropped + 3 * (big - small)
    np.testing.assert_array_equal(got.eigenvalues, want.eigenvalues)
    for g in range(3):
        expected = np.full(big, -1)
        expected[spots[g]] = want.labels[g]
        np.testing.assert_array_equal(got.labels[g], expected)


def test_dense_sparse_and_coo_blocks_are_one_graph():
    w = random_pruned_mlp((40, 30), sparsity=0.6, seed=2)[0]
    rows, cols = np.nonzero(w)
    forms = [
        w,
        sp.csr_matrix(w),
        (rows, cols, w[rows, cols]),
        # duplicates are summed: split every entry in two halves
        (np.r_[rows, rows], np.r_[cols, cols], np.r_[w[rows, cols] / 2, w[rows, cols] / 2]),
    ]
    nets = [Network([("x", 40), ("y", 30)], [(0, 1, f)]) for f in forms]
    expected = oracles.block_adjacency([("x", 40), ("y", 30)], [("x", "y", w)])
    for n in nets:
        np.testing.assert_allclose(n.adjacency().toarray(), expected, rtol=1e-15)
    ncuts = {modcore.spectral_cluster(n, n_clusters=3, seed=0).ncut for n in nets}
    assert len(ncuts) == 1


def test_precomputed_adjacency_matches_the_oracle():
    adj = random_symmetric(400, 0.02, seed=3)
    res = modcore.spectral_cluster(adj, n_clusters=6, seed=0)
    labels = res.labels[0]
    live = labels >= 0
    a = adj[live][:, live]
    assert res.ncut == pytest.approx(oracles.ncut(a, labels[live]), rel=1e-10)
    assert modcore.ncut(adj, labels) == pytest.approx(res.ncut, rel=1e-12)
    assert res.eigen_method == "full"  # one group joined to itself: not bipartite
    np.testing.assert_allclose(res.eigenvalues, top_eigenvalues(adj, 6), atol=1e-6)


def test_precomputed_planted_communities_are_found():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(4), 50)
    same = groups[:, None] == groups[None, :]
    a = np.where(same, rng.random((200, 200)), 0.01 * rng.random((200, 200)))
    a = np.triu(a, 1)
    res = modcore.spectral_cluster(sp.csr_matrix(a + a.T), n_clusters=4, seed=0)
    assert oracles.same_partition(res.labels[0], groups)


@pytest.mark.parametrize("method", ["auto", "full", "dense"])
def test_residual_network_is_not_bipartite_and_matches_eigsh(method):
    net, adj = residual_network()
    assert not net.is_bipartite
    res = modcore.spectral_cluster(net, n_clusters=8, seed=0, eigen_method=method, tol=1e-10)
    assert res.eigen_method == ("dense" if method == "auto" else method)
    np.testing.assert_allclose(res.eigenvalues, top_eigenvalues(adj, 8), atol=1e-6)
    flat = np.concatenate(res.labels)
    live = flat >= 0
    assert res.ncut == pytest.approx(oracles.ncut(adj[live][:, live], flat[live]), rel=1e-10)
    with pytest.raises(ValueError, match="bipartite"):
        modcore.spectral_cluster(net, n_clusters=8, eigen_method="bipartite")


def test_large_residual_network_uses_full_lanczos():
    net, adj = residual_network(n=200)
    res = modcore.spectral_cluster(net, n_clusters=6, seed=0, tol=1e-10)
    assert res.eigen_method == "full"
    np.testing.assert_allclose(res.eigenvalues, top_eigenvalues(adj, 6), atol=1e-6)


def test_chain_with_a_block_between_layers_of_other_parity_stays_bipartite():
    # in -> h1 -> h2 -> out with a skip in -> out: colours 0,1,0,1, skip joins 0 and 1.
    w = random_pruned_mlp((50, 40, 40, 30), sparsity=0.5, seed=0)
    skip = random_pruned_mlp((50, 30), sparsity=0.8, seed=1)[0]
    net = Network(
        [("in", 50), ("h1", 40), ("h2", 40), ("out", 30)],
        [(0, 1, w[0]), (1, 2, w[1]), (2, 3, w[2]), (0, 3, skip)],
    )
    assert net.is_bipartite and not net.is_chain
    full = modcore.spectral_cluster(net, n_clusters=5, seed=0, eigen_method="full", tol=1e-10)
    bip = modcore.spectral_cluster(net, n_clusters=5, seed=0, eigen_method="bipartite", tol=1e-10)
    np.testing.assert_allclose(bip.eigenvalues, full.eigenvalues, atol=1e-8)


def test_disconnected_groups_colour_independently():
    # Two chains side by side in one network: a, b joined; c, d joined; no link between.
    w = random_pruned_mlp((30, 30), sparsity=0.3, seed=0)[0]
    net = Network([("a", 30), ("b", 30), ("c", 30), ("d", 30)], [(0, 1, w), (2, 3, w)])
    assert net.is_bipartite


@pytest.mark.parametrize("shuffle", modcore.SHUFFLES)
def test_self_block_shuffles_stay_in_the_upper_triangle(shuffle):
    adj = random_symmetric(60, 0.1, seed=5)
    net = Network.from_adjacency(adj)
    original = net.blocks[0]
    for index in range(3):
        shuffled = modcore.shuffled_network(net, shuffle=shuffle, seed=1, index=index).blocks[0]
        rows, cols = np.divmod(shuffled.positions, 60)
        assert (rows < cols).all() and np.unique(shuffled.positions).size == shuffled.nnz
        assert shuffled.nnz == original.nnz
        if shuffle in ("layer", "layer_nonzero"):
            np.testing.assert_array_equal(np.sort(shuffled.values), np.sort(original.values))
        if shuffle in ("layer_nonzero", "layer_nonzero_distribution"):
            np.testing.assert_array_equal(shuffled.positions, original.positions)


def test_layer_shuffle_of_a_triangle_reaches_every_position():
    # 6 nodes: 15 upper positions; 3 edges scattered over many shuffles cover them all.
    a = np.zeros((6, 6))
    a[0, 1] = a[2, 3] = a[4, 5] = 1.0
    net = Network.from_adjacency(a + a.T)
    seen = set()
    for index in range(200):
        seen |= set(modcore.shuffled_network(net, seed=0, index=index).blocks[0].positions.tolist())
    assert seen == {r * 6 + c for r in range(6) for c in range(r + 1, 6)}


def test_significance_on_a_precomputed_graph():
    rng = np.random.default_rng(1)
    groups = np.repeat(np.arange(3), 40)
    same = groups[:, None] == groups[None, :]
    a = np.triu(
        np.where(same & (rng.random((120, 120)) < 0.5), 1.0, 0.0)
        + np.where(~same & (rng.random((120, 120)) < 0.02), 1.0, 0.0),
        1,
    )
    sig = modcore.ncut_significance(
        sp.csr_matrix(a + a.T), n_clusters=3, n_shuffles=19, seed=0, progress=False
    )
    assert sig.p_value == pytest.approx(1 / 20)  # below every shuffle
    assert sig.clustering.group_names == ("nodes",)


def test_layer_shuffle_of_a_huge_sparse_block_needs_no_dense_permutation():
    # 20,000 x 20,000 with 2,000 non-zeros: a dense int64 permutation would be 3.2 GB.
    rng = np.random.default_rng(0)
    pos = np.sort(rng.choice(20_000 * 20_000, size=2_000, replace=False))
    net = Network(
        [("x", 20_000), ("y", 20_000)],
        [(0, 1, (pos // 20_000, pos % 20_000, rng.normal(size=2_000)))],
    )
    shuffled = modcore.shuffled_network(net, seed=0, index=0).blocks[0]
    assert shuffled.nnz == 2_000 and not np.array_equal(shuffled.positions, pos)
    assert shuffled.positions.max() < 20_000 * 20_000


@pytest.mark.parametrize(
    "groups, blocks, exc, match",
    [
        ([], [], ValueError, "at least one group"),
        ([("a", 0)], [], ValueError, "at least one unit"),
        ([("a", 2), ("a", 3)], [], ValueError, "duplicate group name"),
        ([("a", 2.0)], [], TypeError, "must be an int"),
        ([("a", 2), ("b", 3)], [("a", "c", np.ones((2, 3)))], ValueError, "unknown group 'c'"),
        ([("a", 2), ("b", 3)], [(0, 1, np.ones((3, 2)))], ValueError, r"expected \(2, 3\)"),
        ([("a", 2), ("b", 3)], [(0, 5, np.ones((2, 3)))], ValueError, "there are 2 groups"),
        ([("a", 2), ("b", 3)], [(0, 1, np.full((2, 3), np.nan))], ValueError, "NaN"),
        ([("a", 3)], [(0, 0, np.triu(np.ones((3, 3)), 1))], ValueError, "symmetric"),
        ([("a", 2), ("b", 3)], [(0, 1, np.ones((2, 3), dtype=complex))], TypeError, "dtype"),
        ([("a", 2), ("b", 3)], [(0, 1, ([0], [7], [1.0]))], ValueError, "outside its shape"),
    ],
)
def test_bad_networks(groups, blocks, exc, match):
    with pytest.raises(exc, match=match):
        Network(groups, blocks)


def test_labels_of_a_single_group_may_be_one_array():
    a = np.ones((4, 4)) - np.eye(4)
    assert modcore.ncut(sp.csr_matrix(a), np.array([0, 0, 1, 1])) == pytest.approx(
        oracles.ncut(sp.csr_matrix(a), np.array([0, 0, 1, 1]))
    )


def test_core_returns_group_and_index_of_each_live_node():
    w, _ = planted_modular_mlp((6, 4), 2, seed=0)
    w[0][:, 3] = 0  # unit 3 of the second group has no edges
    info = _core.graph(*Network.from_weights(w).to_core())
    assert set(zip(info["node_group"].tolist(), info["node_index"].tolist())) == {
        (0, i) for i in range(6)
    } | {(1, 0), (1, 1), (1, 2)}


def test_the_diagonal_of_an_adjacency_is_ignored():
    adj = random_symmetric(50, 0.1, seed=7)
    loops = adj + sp.diags(np.arange(1.0, 51.0))
    a = modcore.spectral_cluster(adj, n_clusters=3, seed=0)
    b = modcore.spectral_cluster(loops, n_clusters=3, seed=0)
    assert a.ncut == b.ncut
