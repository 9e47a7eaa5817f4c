"""Choosing k and reading the result: eigengap, ncut_curve, Newman's Q, effect sizes,
sequential p-values, stability across seeds."""

import json
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import laplacian

import modcore
from modcore import EigengapWarning
from modcore.method.null import shuffled_scores
from modcore.method.settings import ClusterSettings
from modcore.method.significance import sequential_p_value
from modcore.network.network import Network
from modcore.network.synthetic import planted_modular_mlp, planted_modules_mlp, random_pruned_mlp
from oracles import live_adjacency, same_partition
from test_significance import interrupt


@pytest.fixture(scope="module")
def small():
    """Under 300 units: the dense eigensolver runs."""
    return random_pruned_mlp((40, 40, 40, 20), sparsity=0.6, seed=0)


@pytest.fixture(scope="module")
def large():
    """Over 300 units: bipartite Lanczos runs."""
    return random_pruned_mlp((200, 150, 100), sparsity=0.8, seed=0)


# -- eigengap -----------------------------------------------------------------------------


@pytest.mark.parametrize("n_modules", [3, 5, 8])
def test_eigengap_finds_planted_modules(n_modules):
    w, _ = planted_modular_mlp([48, 48, 48], n_modules=n_modules, noise=0.02, seed=n_modules)
    with warnings.catch_warnings():
        warnings.simplefilter("error", EigengapWarning)
        gap = modcore.eigengap(w, max_k=14, n_shuffles=4, seed=0)
        plain = modcore.eigengap(w, max_k=14, n_shuffles=0, seed=0)
    assert gap.k == plain.k == n_modules
    assert gap.clear and plain.clear
    assert gap.shuffled_gaps.shape == (4, 12)


@pytest.mark.parametrize(
    "make",
    [
        lambda: random_pruned_mlp((40, 40, 40), sparsity=0.5, seed=1),
        lambda: random_pruned_mlp((300, 100, 100, 100, 10), sparsity=0.8, seed=0),
        lambda: (
            sp.random(200, 200, density=0.05, random_state=0)
            + sp.random(200, 200, density=0.05, random_state=0).T
        ),
    ],
    ids=["small mlp", "deep mlp", "random graph"],
)
def test_eigengap_warns_on_random_networks(make):
    with pytest.warns(EigengapWarning, match="no eigengap stands out"):
        gap = modcore.eigengap(make(), max_k=12, n_shuffles=5, seed=0)
    assert not gap.clear


def test_deep_chain_gap_at_two_is_shared_by_its_shuffles():
    """A random deep chain has a real gap at k = 2 (units ordered by depth); without
    shuffles it looks clear, against its shuffles it does not."""
    w = random_pruned_mlp((300, 100, 100, 100, 10), sparsity=0.8, seed=0)
    plain = modcore.eigengap(w, max_k=12, n_shuffles=0, seed=0)
    assert plain.k == 2 and plain.clear
    with pytest.warns(EigengapWarning):
        assert not modcore.eigengap(w, max_k=12, n_shuffles=5, seed=0).clear


@pytest.mark.parametrize("which", ["small", "large"])
def test_eigenvalues_equal_scipy(which, request):
    w = request.getfixturevalue(which)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EigengapWarning)
        gap = modcore.eigengap(w, max_k=15, n_shuffles=0, seed=0)
    adj, _ = live_adjacency(w)
    expected = np.linalg.eigvalsh(laplacian(adj.toarray(), normed=True))[:15]
    np.testing.assert_allclose(gap.eigenvalues, expected, atol=1e-6)
    assert gap.eigen_method == ("dense" if which == "small" else "bipartite")
    lam = expected
    ks = np.arange(2, 15)
    np.testing.assert_allclose(gap.relative_gaps, (lam[ks] - lam[ks - 1]) / lam[ks], atol=1e-5)


def test_eigengap_of_separate_components():
    block, _ = planted_modular_mlp([20, 20], n_modules=1, seed=0)
    w = [np.kron(np.eye(3), block[0])]  # three disconnected copies
    gap = modcore.eigengap(w, max_k=8, n_shuffles=0, seed=0)
    assert gap.n_components == 3 and gap.k == 3 and gap.clear
    np.testing.assert_array_equal(gap.eigenvalues[:3], 0.0)
    json.dumps(gap.to_dict(), allow_nan=False)


def test_eigengap_is_not_clear_when_modules_of_several_scales_make_several_gaps():
    """Three large and two small modules (3 units a layer): gaps at k = 3 and k = 5 both
    stand out, and clustering at 5 recovers the planted modules; k = 3 is not 'clear'."""
    w, planted = planted_modules_mlp([3, 3, 30, 30, 30], noise=0.01, seed=0)
    with pytest.warns(EigengapWarning, match=r"stand out at several k: k = 3 \(0\.\d+\), .*k = 5"):
        gap = modcore.eigengap(w, max_k=12, seed=0)
    assert gap.k == 3 and not gap.clear
    assert {3, 5} <= set(gap.stand_out.tolist())
    five = modcore.spectral_cluster(w, n_clusters=5, seed=0)
    assert modcore.compare_partitions(planted, five.labels).adjusted_rand == 1.0


def test_a_rival_gap_makes_a_deep_net_unclear():
    """Five planted modules, five layers deep, noise 0.3: the largest gap is at k = 10 (each
    module split by depth) and a rival gap at k = 6 is 0.09, 25 times its shuffles'. Before
    rivals counted, k = 10 was called clear."""
    w, _ = planted_modules_mlp([20] * 5, n_layers=5, noise=0.3, seed=0)
    with pytest.warns(EigengapWarning, match=r"several k: k = 10 \(0\.\d+\), k = 6"):
        gap = modcore.eigengap(w, max_k=12, n_shuffles=9, seed=0)
    assert gap.k == 10 and not gap.clear and 6 in gap.stand_out


def test_eigengap_never_asks_for_a_gap_above_one():
    """Relative gaps are at most 1: a threshold above 1 is stated as unreachable."""
    w, _ = planted_modules_mlp([6, 6], noise=0.01, seed=0)
    blocks = [np.kron(np.eye(2), b) for b in w]  # two copies: 4 components, gaps of 1
    with pytest.warns(EigengapWarning) as caught:
        gap = modcore.eigengap(blocks, max_k=10, n_shuffles=0, seed=0)
    # Gaps of 1.000 at k = 2 (the copies) and 0.964 at k = 4 (their modules): 1.5 x 0.964
    # is out of reach (it was asked for as '1.447').
    message = str(caught[0].message)
    assert gap.k == 2 and not gap.clear and gap.relative_gaps.max() <= 1.0
    assert "1.5 x the second largest gap (0.964), 1.447: no relative gap can" in message
    assert "(they are at most 1)" in message


def test_eigengap_json_is_strict_with_shuffles_that_reach_fewer_k():
    """A shuffle with fewer live units than max_k has no gaps there: null in JSON."""
    w = [np.eye(4, 5) * np.arange(1.0, 5.0)[:, None]]  # 8 live units; shuffles: often fewer
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EigengapWarning)
        gap = modcore.eigengap(w, n_shuffles=10, seed=0)
    missing = np.isnan(gap.shuffled_gaps)
    assert missing.any()
    d = json.loads(json.dumps(gap.to_dict(), allow_nan=False))
    assert [[g is None for g in row] for row in d["shuffled_gaps"]] == missing.tolist()


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"max_k": 2}, ValueError, "max_k must be >= 3"),
        ({"max_k": 10**6}, ValueError, "max_k must be <= 500"),
        ({"max_k": 3.0}, TypeError, "max_k must be an int"),
        ({"n_shuffles": -1}, ValueError, "n_shuffles must be >= 0"),
        ({"shuffle": "global"}, ValueError, "shuffle must be one of"),
        ({"eigen_method": "qr"}, ValueError, "eigen_method"),
    ],
)
def test_eigengap_bad_parameters(small, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        modcore.eigengap(small, **kwargs)


def test_eigengap_needs_three_units():
    with pytest.raises(ValueError, match="needs >= 3"):
        modcore.eigengap([np.array([[1.0]])])


def test_max_k_is_capped_at_the_live_units():
    w = [np.abs(np.random.default_rng(0).normal(size=(3, 4)))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EigengapWarning)
        gap = modcore.eigengap(w, n_shuffles=2, seed=0)
    assert len(gap.eigenvalues) == 7 and gap.ks.tolist() == [2, 3, 4, 5, 6]


# -- ncut_curve ---------------------------------------------------------------------------


def assert_same_significance(a, b):
    assert a.ncut == b.ncut and a.modularity == b.modularity
    for x, y in zip(a.labels, b.labels):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a.shuffled_ncuts, b.shuffled_ncuts)
    np.testing.assert_array_equal(a.shuffled_modularity, b.shuffled_modularity)
    assert (a.z_score, a.p_value, a.n_shuffles) == (b.z_score, b.p_value, b.n_shuffles)


def test_curve_equals_separate_runs_at_every_k_with_the_dense_solver(small):
    args = dict(n_shuffles=8, shuffle="layer_nonzero", n_init=3, seed=5, progress=False)
    curve = modcore.ncut_curve(small, ks=[6, 2, 4, 3], **args)
    assert curve.ks.tolist() == [2, 3, 4, 6]
    for k in curve.ks:
        alone = modcore.ncut_significance(small, n_clusters=int(k), **args)
        assert alone.clustering.eigen_method == "dense"
        assert_same_significance(curve.significance(k), alone)
    assert curve.shuffled_ncuts.shape == (8, 4)


def test_curve_at_one_k_equals_ncut_significance_with_lanczos(large):
    args = dict(n_shuffles=4, n_init=3, seed=2, progress=False)
    curve = modcore.ncut_curve(large, ks=[7], **args)
    alone = modcore.ncut_significance(large, n_clusters=7, **args)
    assert alone.clustering.eigen_method == "bipartite"
    assert_same_significance(curve.significance(7), alone)


def test_curve_with_lanczos_agrees_with_separate_runs_within_tolerance(large):
    """The embedding at k < max(ks) is the k-solve's within the eigensolver's tol."""
    args = dict(n_shuffles=4, n_init=3, seed=2, progress=False)
    curve = modcore.ncut_curve(large, ks=range(3, 10, 2), **args)
    for k in curve.ks:
        alone = modcore.ncut_significance(large, n_clusters=int(k), **args)
        got = curve.significance(k)
        assert got.ncut == pytest.approx(alone.ncut, abs=1e-6)
        assert same_partition(np.concatenate(got.labels), np.concatenate(alone.labels))
        close = np.isclose(got.shuffled_ncuts, alone.shuffled_ncuts, atol=1e-6)
        assert close.mean() >= 0.75


def test_curve_is_the_same_for_any_threads(small):
    args = dict(ks=[2, 5], n_shuffles=6, seed=1, progress=False)
    one = modcore.ncut_curve(small, n_jobs=1, **args)
    two = modcore.ncut_curve(small, n_jobs=2, **args)
    np.testing.assert_array_equal(one.shuffled_ncuts, two.shuffled_ncuts)
    np.testing.assert_array_equal(one.ncut, two.ncut)


def test_curve_statistics_and_json(small):
    curve = modcore.ncut_curve(small, ks=[2, 3], n_shuffles=10, seed=0, progress=False)
    null = curve.shuffled_ncuts
    np.testing.assert_allclose(curve.shuffled_mean, null.mean(axis=0))
    np.testing.assert_allclose(curve.shuffled_std, null.std(axis=0, ddof=1))
    np.testing.assert_allclose(curve.z_score, (curve.ncut - null.mean(0)) / null.std(0, ddof=1))
    np.testing.assert_allclose(curve.p_value, (1 + (null <= curve.ncut).sum(0)) / 11)
    d = json.loads(json.dumps(curve.to_dict(), allow_nan=False))
    assert d["ks"] == [2, 3] and [r["n_clusters"] for r in d["per_k"]] == [2, 3]
    assert d["per_k"][1]["shuffled_ncuts"] == null[:, 1].tolist()
    assert "z by k" in repr(curve)
    with pytest.raises(ValueError, match="not in the curve"):
        curve.significance(4)


@pytest.mark.parametrize(
    "ks, exc, match",
    [
        ([], ValueError, "ks is empty"),
        ([2, 3, 2], ValueError, "repeated"),
        ([1, 2], ValueError, "every k must be in"),
        ([2.0], TypeError, "ks must hold ints"),
        (5, TypeError, "iterable of ints"),
        ([2, 500], ValueError, "n_clusters must be between 2 and the number of live units"),
        # refused without listing its 2**31 values (17 GB and more)
        (range(2, 2**31 - 1), ValueError, "ks has more than 10000 values"),
    ],
)
def test_curve_bad_ks(small, ks, exc, match):
    with pytest.raises(exc, match=match):
        modcore.ncut_curve(small, ks=ks, n_shuffles=2, progress=False)


def test_ctrl_c_stops_a_long_curve():
    rc, out, err = interrupt(
        """
        import sys, modcore
        from modcore.network.synthetic import random_pruned_mlp
        w = random_pruned_mlp(sparsity=0.9, seed=0)
        def tick(done, total):
            print("progress", flush=True)
        try:
            modcore.ncut_curve(w, ks=range(2, 13), n_shuffles=10**6, seed=0, n_jobs=2,
                               progress=tick)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(130)
    """,
        ready="progress",
    )
    assert rc == 130 and "interrupted" in out, err


# -- Newman's modularity and the other scores -----------------------------------------------


def networkx_modularity(adj, labels):
    nx = pytest.importorskip("networkx")
    from networkx.algorithms.community import modularity

    g = nx.Graph()
    g.add_nodes_from(range(adj.shape[0]))
    coo = sp.triu(adj, k=1).tocoo()
    g.add_weighted_edges_from(zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist()))
    communities = [set(np.flatnonzero(labels == a).tolist()) for a in np.unique(labels)]
    return modularity(g, communities, weight="weight")


@pytest.mark.parametrize("seed", range(4))
def test_modularity_equals_networkx_on_random_chains(seed):
    rng = np.random.default_rng(seed)
    w = random_pruned_mlp((15, 12, 9), sparsity=0.5, seed=seed)
    adj, live = live_adjacency(w)
    labels = [rng.integers(0, 4, n) for n in (15, 12, 9)]
    flat = np.concatenate(labels)[live]
    assert modcore.modularity(w, labels) == pytest.approx(networkx_modularity(adj, flat), abs=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_modularity_equals_networkx_on_random_graphs(seed):
    a = sp.random(40, 40, density=0.1, random_state=seed)
    a = (a + a.T).tocsr()
    a.setdiag(0)
    a.eliminate_zeros()
    labels = np.random.default_rng(seed).integers(0, 5, 40)
    live = np.asarray(abs(a).sum(axis=1)).ravel() > 0
    expected = networkx_modularity(a[live][:, live], labels[live])
    assert modcore.modularity(a, labels) == pytest.approx(expected, abs=1e-12)


def test_clusterings_report_the_modularity_of_their_modules(small):
    clustering = modcore.spectral_cluster(small, n_clusters=4, seed=0)
    adj, live = live_adjacency(small)
    flat = np.concatenate(clustering.labels)[live]
    assert clustering.modularity == pytest.approx(networkx_modularity(adj, flat), abs=1e-12)


def test_modularity_hand_cases():
    # Two disjoint edges of weight 1 and 3 in separate modules: m = 4,
    # Q = 1/4 - (2/8)^2 + 3/4 - (6/8)^2 = 0.375.
    w = [np.array([[1.0, 0.0], [0.0, 3.0]])]
    assert modcore.modularity(w, [np.array([0, 1]), np.array([0, 1])]) == pytest.approx(0.375)
    assert modcore.modularity(w, [np.array([0, 0]), np.array([0, 0])]) == 0.0


def test_significance_scores_follow_their_definitions(small):
    res = modcore.ncut_significance(small, n_clusters=4, n_shuffles=25, seed=3, progress=False)
    k, null, x = 4, res.shuffled_ncuts, res.ncut
    assert res.in_out_ratio == pytest.approx((1 - x / k) / (2 * x / k))
    assert res.shuffled_in_out_ratio == pytest.approx(np.median((1 - null / k) / (2 * null / k)))
    # Cohen's d with pooled sd; the network's group of one adds no variance.
    n1, n2 = 1, len(null)
    pooled = np.sqrt(((n1 - 1) * 0.0 + (n2 - 1) * null.var(ddof=1)) / (n1 + n2 - 2))
    assert res.cohens_d == pytest.approx((x - null.mean()) / pooled)
    q = res.shuffled_modularity
    assert res.modularity_z == pytest.approx((res.modularity - q.mean()) / q.std(ddof=1))
    assert res.percentile == pytest.approx(100 * np.mean(null <= x))
    d = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert d["shuffled_modularity"] == q.tolist() and d["stop_after"] is None
    assert d["max_shuffles"] == d["n_shuffles"] == 25


def test_in_out_ratio_of_a_perfect_partition_is_infinite_in_strict_json():
    w = [np.kron(np.eye(2), np.ones((3, 3)))]
    res = modcore.ncut_significance(w, n_clusters=2, n_shuffles=3, seed=0, progress=False)
    assert res.ncut == 0.0 and res.in_out_ratio == np.inf
    assert res.to_dict()["in_out_ratio"] == "inf"
    json.dumps(res.to_dict(), allow_nan=False)


# -- sequential p-values --------------------------------------------------------------------


def test_sequential_p_value_hand_cases():
    null = np.array([0.5, 0.1, 0.7, 0.2, 0.05])
    assert sequential_p_value(null, 0.3, 2, 5) == (2 / 4, 4)  # 2nd hit at draw 4
    assert sequential_p_value(null, 0.3, 4, 5) == ((1 + 3) / 6, 5)  # never 4 hits
    assert sequential_p_value(null, 0.01, 1, 5) == (1 / 6, 5)  # no hit at all
    with pytest.raises(ValueError, match="needs 4 hits or all 9 draws"):
        sequential_p_value(null, 0.3, 4, 9)


def test_sequential_p_value_is_valid_by_simulation():
    """Observed and draws exchangeable (the null hypothesis): P(p <= a) <= a."""
    rng = np.random.default_rng(0)
    n_tests, h, n_max = 20000, 5, 199
    values = rng.random((n_tests, n_max + 1))
    p, used = np.array([sequential_p_value(v[1:], v[0], h, n_max) for v in values]).T
    for a in (0.01, 0.05, 0.1, 0.25, 0.5):
        tolerance = 3 * np.sqrt(a * (1 - a) / n_tests)
        assert np.mean(p <= a) <= a + tolerance
    assert np.mean(p <= 0.05) > 0.04  # not needlessly conservative either
    assert used.mean() < 40  # against 199 draws each at fixed size


def test_sequential_p_values_of_null_networks_are_uniform_or_conservative():
    """200 networks that are themselves layer shuffles, h = 10, up to 99 shuffles."""
    p, used = [], []
    for seed in range(200):
        base = random_pruned_mlp((10, 12, 8), sparsity=0.5, seed=seed)
        net = modcore.shuffled_network(base, shuffle="layer", seed=seed, index=0).chain_weights()
        res = modcore.ncut_significance(
            net,
            n_clusters=2,
            n_shuffles=99,
            stop_after=10,
            n_init=1,
            seed=seed,
            n_jobs=1,
            progress=False,
        )
        p.append(res.p_value)
        used.append(res.n_shuffles)
    p = np.array(p)
    for a, most in ((0.05, 10 + 3 * 3.1), (0.1, 20 + 3 * 4.3), (0.5, 100 + 3 * 7.1)):
        assert np.sum(p <= a) <= most  # expected 200 a, 3 binomial sd above
    assert np.mean(used) < 50


def test_sequential_stop_is_the_same_for_any_threads_and_chunks(small):
    args = dict(n_clusters=3, n_shuffles=60, stop_after=4, seed=7, progress=False)
    one = modcore.ncut_significance(small, n_jobs=1, **args)
    two = modcore.ncut_significance(small, n_jobs=2, **args)
    assert one.n_shuffles < 60 and one.max_shuffles == 60 and one.stop_after == 4
    assert_same_significance(one, two)
    ncut = one.ncut
    for chunk in (1, 5, 60):
        null = shuffled_scores(
            Network.from_weights(small),
            "layer",
            60,
            ClusterSettings(n_clusters=3),
            7,
            2,
            False,
            stop=(ncut, 4),
            chunk_size=chunk,
        )
        assert len(null.ncut) >= one.n_shuffles
        np.testing.assert_array_equal(null.ncut[: one.n_shuffles, 0], one.shuffled_ncuts)
    fixed = modcore.ncut_significance(small, n_clusters=3, n_shuffles=60, seed=7, progress=False)
    np.testing.assert_array_equal(fixed.shuffled_ncuts[: one.n_shuffles], one.shuffled_ncuts)
    hits = np.flatnonzero(fixed.shuffled_ncuts <= ncut)
    assert one.n_shuffles == hits[3] + 1 and one.p_value == 4 / one.n_shuffles


def test_sequential_saves_shuffles_only_when_the_network_is_not_extreme(small):
    random_net = modcore.ncut_significance(
        small, n_clusters=3, n_shuffles=500, stop_after=10, seed=0, progress=False
    )
    assert random_net.n_shuffles < 100 and random_net.p_value > 0.1
    planted, _ = planted_modular_mlp((24, 24, 24), 3, noise=0.02, seed=0)
    res = modcore.ncut_significance(
        planted, n_clusters=3, n_shuffles=40, stop_after=10, seed=0, progress=False
    )
    assert res.n_shuffles == 40 and res.p_value == 1 / 41


@pytest.mark.parametrize("stop_after, exc", [(0, ValueError), (11, ValueError), (2.5, TypeError)])
def test_bad_stop_after(small, stop_after, exc):
    with pytest.raises(exc, match="stop_after"):
        modcore.ncut_significance(small, n_clusters=2, n_shuffles=10, stop_after=stop_after)


# -- stability --------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_compare_partitions_equals_scikit_learn(seed):
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 80))
    a = rng.integers(0, int(rng.integers(1, 7)), n)
    b = a.copy() if seed % 2 else rng.integers(0, int(rng.integers(1, 7)), n)
    b[: n // 3] = rng.integers(0, 3, n // 3)
    got = modcore.compare_partitions(a, b)
    assert got.adjusted_rand == pytest.approx(metrics.adjusted_rand_score(a, b), abs=1e-12)
    assert got.normalized_mutual_info == pytest.approx(
        metrics.normalized_mutual_info_score(a, b), abs=1e-12
    )
    assert got.n_units == n


@pytest.mark.parametrize(
    "a, b",
    [
        ([0, 0, 0], [1, 1, 1]),  # no split on either side
        ([0, 1, 2], [0, 1, 2]),  # all singletons
        ([0, 0, 0], [0, 1, 2]),  # one side unsplit
        ([3, 3, 7, 7], [1, 1, 0, 0]),
    ],
)
def test_compare_partitions_edge_cases_equal_scikit_learn(a, b):
    metrics = pytest.importorskip("sklearn.metrics")
    got = modcore.compare_partitions(np.array(a), np.array(b))
    assert got.adjusted_rand == pytest.approx(metrics.adjusted_rand_score(a, b))
    assert got.normalized_mutual_info == pytest.approx(metrics.normalized_mutual_info_score(a, b))


def test_compare_partitions_leaves_out_units_without_edges():
    a = [np.array([0, 0, -1]), np.array([1, 1])]
    b = [np.array([2, 2, 0]), np.array([-1, 5])]
    got = modcore.compare_partitions(a, b)
    assert got.n_units == 3  # units 0, 1 and 4
    metrics = pytest.importorskip("sklearn.metrics")
    assert got.adjusted_rand == pytest.approx(metrics.adjusted_rand_score([0, 0, 1], [2, 2, 5]))


@pytest.mark.parametrize(
    "a, b, exc, match",
    [
        (np.array([0, 1]), np.array([0, 1, 2]), ValueError, "different units"),
        (np.array([0.0, 1.0]), np.array([0, 1]), TypeError, "integer labels"),
        (np.array([-1, -1]), np.array([0, 1]), ValueError, "no unit"),
        ("ab", np.array([0, 1]), TypeError, "int array"),
        # Misaligned groups, same total (issue 27 item 7): unit 3 of a is not unit 3 of b.
        (
            [np.array([0, 0, 1]), np.array([1, 0])],
            [np.array([0, 0]), np.array([1, 1, 0])],
            ValueError,
            r"a has groups of 3, 2 units, b has groups of 2, 3 units",
        ),
        (
            [np.array([0, 0, 1]), np.array([1, 0])],
            [np.array([0, 0, 1, 1, 0])],
            ValueError,
            "different units",
        ),
        (
            [np.array([0, 0, 1, 1, 0])],
            np.array([0, 0, 1, 1, 0]),
            ValueError,
            "b is one array of 5 labels; pass both per group",
        ),
    ],
)
def test_compare_partitions_bad_input(a, b, exc, match):
    with pytest.raises(exc, match=match):
        modcore.compare_partitions(a, b)


def test_stability_of_planted_and_random_networks(small):
    planted, _ = planted_modular_mlp((24, 24, 24), 3, noise=0.02, seed=0)
    stable = modcore.stability(planted, n_clusters=3, n_seeds=3, seed=4)
    assert stable.mean_adjusted_rand == 1.0
    assert stable.mean_normalized_mutual_info == pytest.approx(1.0)
    assert stable.seeds.tolist() == [4, 5, 6]
    again = modcore.spectral_cluster(planted, n_clusters=3, seed=5)
    assert again.ncut == stable.ncuts[1]
    shaky = modcore.stability(
        small, n_clusters=8, n_seeds=4, assign_labels="kmeans", refine=False, n_init=1, seed=0
    )
    assert shaky.mean_adjusted_rand < 1.0
    # The default rule does not depend on the seed: the same modules every time.
    steady = modcore.stability(small, n_clusters=8, n_seeds=4, tol=1e-8, seed=0)
    assert steady.mean_adjusted_rand == 1.0 and steady.ncuts.std() == 0.0
    np.testing.assert_array_equal(shaky.adjusted_rand, shaky.adjusted_rand.T)
    np.testing.assert_array_equal(np.diag(shaky.normalized_mutual_info), 1.0)
    i, j = 0, 3
    pair = modcore.compare_partitions(shaky.clusterings[i].labels, shaky.clusterings[j].labels)
    assert shaky.adjusted_rand[i, j] == pair.adjusted_rand
    json.dumps(shaky.to_dict(), allow_nan=False)
    assert "mean ARI" in repr(shaky)


def test_stability_needs_two_seeds(small):
    with pytest.raises(ValueError, match="n_seeds must be >= 2"):
        modcore.stability(small, n_clusters=3, n_seeds=1)


# -- figure, report and command line ----------------------------------------------------------


@pytest.fixture(scope="module")
def planted_curve():
    w, _ = planted_modular_mlp((20, 20, 20), 3, noise=0.02, seed=0)
    return w, modcore.ncut_curve(w, ks=[2, 3, 4], n_shuffles=12, seed=0, progress=False)


def test_ncut_by_k_draws_the_curve_and_its_null(planted_curve):
    pytest.importorskip("matplotlib")
    import modcore.report.plot

    _, curve = planted_curve
    top, bottom = modcore.report.plot.ncut_by_k(curve).axes
    network = next(line for line in top.lines if line.get_label() == "the network")
    np.testing.assert_allclose(network.get_ydata(), curve.ncut / np.array([2, 3, 4]))
    np.testing.assert_array_equal(bottom.lines[-1].get_ydata(), curve.z_score)


def test_report_includes_the_curve(planted_curve, tmp_path):
    pytest.importorskip("matplotlib")
    from modcore.report.html import write_report

    w, curve = planted_curve
    index = write_report(tmp_path, w, {"layer": curve.significance(3)}, curves={"layer": curve})
    assert (tmp_path / "ncut_by_k_layer.png").stat().st_size > 1000
    page = index.read_text()
    assert "By number of modules" in page and "Newman" in page
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["curves"]["layer"]["ks"] == [2, 3, 4]
    assert saved["modularity"] == curve.significance(3).modularity


@pytest.fixture
def npz(tmp_path):
    w, _ = planted_modular_mlp((30, 30, 30), 4, noise=0.02, seed=0)
    path = tmp_path / "net.npz"
    np.savez(path, *w)
    return path


def test_cli_clusters_auto_says_what_it_chose(npz, tmp_path, capsys):
    from modcore.cli.main import main

    out = tmp_path / "res.json"
    assert (
        main(["analyze", npz, "--clusters", "auto", "--shuffles", "5", "--quiet", "--json", out])
        == 0
    )
    assert "the eigengap suggests k = 4" in capsys.readouterr().out
    res = json.loads(out.read_text())
    assert res["n_clusters"] == 4 and res["eigengap"]["k"] == 4


def test_cli_clusters_range_runs_the_curve(npz, tmp_path, capsys):
    from modcore.cli.main import main

    out = tmp_path / "res.json"
    assert (
        main(["analyze", npz, "--clusters", "2:5", "--shuffles", "5", "--quiet", "--json", out])
        == 0
    )
    printed = capsys.readouterr().out
    assert "details below for k = " in printed
    res = json.loads(out.read_text())
    per_k = res["curves"]["layer"]["per_k"]
    assert [r["n_clusters"] for r in per_k] == [2, 3, 4, 5]
    best = min(per_k, key=lambda r: (r["p_value"], r["z_score"], r["n_clusters"]))
    assert res["n_clusters"] == best["n_clusters"] and res["ncut"] == best["ncut"]


@pytest.mark.parametrize("value", ["1:5", "5:3", "x", "2:", "2:2"])
def test_cli_rejects_bad_clusters(npz, value, capsys):
    from modcore.cli.main import main

    assert main(["analyze", npz, "--clusters", value]) == 2
    assert "range like 2:20" in capsys.readouterr().err
