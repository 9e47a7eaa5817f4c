"""ncut_significance and its shuffles: statistics by hand, the null's networks, the solver
settings, progress, Ctrl-C, infinite z-scores.

The shuffles' invariants (multisets, patterns) are properties in test_properties.py;
same results for any thread count and chunking are in test_threads.py.
"""

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.stats

import modcore
from modcore.method.significance import significance_of
from modcore.network.synthetic import planted_modular_mlp, random_pruned_mlp
from oracles import null_clustering_seed
from processes import interrupt
from solver_cases import IDS, REACH


@pytest.fixture(scope="module")
def pruned():
    return random_pruned_mlp((60, 50, 40, 10), sparsity=0.7, seed=0)


def test_each_shuffle_moves_what_it_should(pruned):
    def nonzero_pattern(ws):
        return [w != 0 for w in ws]

    def same(a, b):
        return all(np.array_equal(x, y) for x, y in zip(a, b))

    layer = [
        modcore.shuffled_network(pruned, shuffle="layer", seed=3, index=i).chain_weights()
        for i in (0, 1)
    ]
    assert not same(nonzero_pattern(layer[0]), nonzero_pattern(pruned))  # positions move
    assert not same(layer[0], layer[1])  # each index its own network
    nonzero = modcore.shuffled_network(pruned, shuffle="layer_nonzero", seed=1).chain_weights()
    assert same(nonzero_pattern(nonzero), nonzero_pattern(pruned)) and not same(nonzero, pruned)
    kde = modcore.shuffled_network(
        pruned, shuffle="layer_nonzero_distribution", seed=0
    ).chain_weights()
    assert not np.isin(kde[0][kde[0] != 0], pruned[0][pruned[0] != 0]).any()  # fresh values
    spread = modcore.shuffled_network(
        pruned, shuffle="layer_all_distribution", seed=0
    ).chain_weights()
    assert not same(nonzero_pattern(spread), nonzero_pattern(pruned))


def test_kde_shuffles_use_scotts_bandwidth():
    # Values +-3: each KDE draw is one of them plus bandwidth * N(0, 1), and the two are
    # 12 bandwidths apart, so the noise of every draw can be read off: its std must be
    # the bandwidth. Oracle: scipy's gaussian_kde (Scott: sample std * n**(-1/5)).
    rng = np.random.default_rng(0)
    w = [np.where(rng.random((100, 100)) < 0.5, -3.0, 3.0)]
    values = w[0].ravel()
    bandwidth = np.sqrt(scipy.stats.gaussian_kde(values).covariance[0, 0])
    assert bandwidth == pytest.approx(values.std(ddof=1) * values.size**-0.2, rel=1e-12)
    noise = []
    for index in range(5):
        for shuffle in ("layer_nonzero_distribution", "layer_all_distribution"):
            s = modcore.shuffled_network(w, shuffle=shuffle, seed=1, index=index).chain_weights()[0]
            drawn = s[s != 0]
            assert drawn.size == values.size
            noise.append(drawn - 3.0 * np.sign(drawn))
    noise = np.concatenate(noise)  # 100,000 draws: the std's relative error is ~0.2 %
    assert noise.std() == pytest.approx(bandwidth, rel=0.015)
    assert abs(noise.mean()) < 0.01 * bandwidth
    # Silverman's rule would give 0.9x, n**(-1/4) 0.63x: both far outside the tolerance.


# --- the null's networks ------------------------------------------------------------


@pytest.mark.parametrize("shuffle", modcore.SHUFFLES)
def test_shuffled_weights_is_the_network_behind_each_shuffled_ncut(pruned, shuffle):
    sig = modcore.ncut_significance(
        pruned, n_clusters=4, n_shuffles=4, shuffle=shuffle, seed=5, progress=False
    )
    fewer = modcore.ncut_significance(
        pruned, n_clusters=4, n_shuffles=2, shuffle=shuffle, seed=5, progress=False
    )
    np.testing.assert_array_equal(fewer.shuffled_ncuts, sig.shuffled_ncuts[:2])  # by index
    for index in range(4):
        weights = modcore.shuffled_network(
            pruned, shuffle=shuffle, seed=5, index=index
        ).chain_weights()
        clustering = modcore.spectral_cluster(
            weights, n_clusters=4, seed=null_clustering_seed(5, index)
        )
        # The same graph with its edges in another order: equal up to rounding.
        assert clustering.ncut == pytest.approx(sig.shuffled_ncuts[index], rel=1e-12)


# --- statistics ---------------------------------------------------------------------


def clustering_with_ncut(ncut):
    return SimpleNamespace(
        ncut=ncut,
        modularity=0.0,
        labels=[],
        n_clusters=2,
        n_init=1,
        seed=0,
        drop="isolated",
        normalize=None,
        n_dropped=0,
    )


@pytest.mark.parametrize(
    "ncut, null, mean, std, z, p, percentile",
    [
        # mean 2.5; squares of deviations 2.25 + 0.25 + 0.25 + 2.25 = 5, / 3; two <= 2.
        (2.0, [1.0, 2.0, 3.0, 4.0], 2.5, (5 / 3) ** 0.5, -0.5 / (5 / 3) ** 0.5, 3 / 5, 50.0),
        # Below every shuffle: the smallest p, 1 / (n + 1).
        (0.5, [1.0, 2.0, 3.0, 4.0], 2.5, (5 / 3) ** 0.5, -2.0 / (5 / 3) ** 0.5, 1 / 5, 0.0),
        # Ties count as "at most": mean 7/3, deviations -1/3, -1/3, 2/3, variance 1/3.
        (2.0, [2.0, 2.0, 3.0], 7 / 3, 3**-0.5, -(1 / 3) * 3**0.5, 3 / 4, 200 / 3),
        (5.0, [1.0, 2.0, 3.0, 4.0], 2.5, (5 / 3) ** 0.5, 2.5 / (5 / 3) ** 0.5, 1.0, 100.0),
    ],
)
def test_statistics_of_a_fixed_null_by_hand(ncut, null, mean, std, z, p, percentile):
    sig = significance_of(clustering_with_ncut(ncut), np.array(null), "layer")
    assert sig.shuffled_mean == pytest.approx(mean, rel=1e-15)
    assert sig.shuffled_std == pytest.approx(std, rel=1e-14)
    assert sig.z_score == pytest.approx(z, rel=1e-14)
    assert sig.p_value == pytest.approx(p, rel=1e-15)
    assert sig.percentile == pytest.approx(percentile, rel=1e-15)
    assert sig.n_shuffles == len(null)


def test_result_fields_and_json(pruned):
    res = modcore.ncut_significance(
        pruned, n_clusters=4, n_shuffles=30, shuffle="layer_nonzero", seed=2, progress=False
    )
    assert res.shuffled_ncuts.shape == (30,)
    assert res.ncut == modcore.spectral_cluster(pruned, n_clusters=4, seed=2).ncut
    d = json.loads(json.dumps(res.to_dict()))
    assert d["p_value"] == res.p_value and d["shuffled_ncuts"] == res.shuffled_ncuts.tolist()
    assert "p=" in repr(res)


def test_planted_network_is_significant():
    weights, _ = planted_modular_mlp((40, 48, 48, 24), 4, noise=0.02, seed=0)
    res = modcore.ncut_significance(weights, n_clusters=4, n_shuffles=50, seed=0, progress=False)
    assert res.p_value == pytest.approx(1 / 51)
    assert res.z_score < -10
    assert res.percentile == 0.0
    assert res.ncut < res.shuffled_ncuts.min()


def test_p_values_of_null_networks_are_roughly_uniform():
    """A net that is itself a layer shuffle is exchangeable with its null: p ~ uniform."""
    p = []
    for seed in range(100):
        base = random_pruned_mlp((16, 20, 20, 8), sparsity=0.6, seed=seed)
        net = modcore.shuffled_network(base, shuffle="layer", seed=seed, index=0).chain_weights()
        res = modcore.ncut_significance(
            net, n_clusters=3, n_shuffles=99, n_init=2, seed=seed, progress=False
        )
        p.append(res.p_value)
    p = np.array(p)
    assert np.sum(p <= 0.01) <= 5  # expected 1
    assert np.sum(p <= 0.1) <= 20  # expected 10
    assert 0.35 < p.mean() < 0.65  # expected 0.5


# --- a null whose shuffles are all alike --------------------------------------------

# A 4-cycle x - y1 - z - y2 - x. "Heavy path": x-y1 and y1-z weigh 1, x-y2 and y2-z 0.5;
# best 2-cut {x, y1} | {y2, z}: cut 1.5, volumes 3.5 and 2.5, n-cut 3/7 + 3/5 = 36/35
# ({y2} | rest gives 1 + 1/5 = 1.2). "Cross": x-y1 and y2-z weigh 1, the others 0.5;
# {x, y1} | {y2, z}: cut 1, volumes 3 and 3, n-cut 2/3.
# A layer shuffle swaps the two entries of each layer, giving one shape or the other.
HEAVY_PATH = [np.array([[1.0, 0.5]]), np.array([[1.0], [0.5]])]
CROSS = [np.array([[1.0, 0.5]]), np.array([[0.5], [1.0]])]


def shape_of(weights):
    same_middle = np.argmax(weights[0][0]) == np.argmax(weights[1][:, 0])
    return "heavy path" if same_middle else "cross"


@pytest.mark.parametrize(
    "network, other, sign", [(HEAVY_PATH, "cross", "inf"), (CROSS, "heavy path", "-inf")]
)
def test_a_null_with_no_spread_gives_an_infinite_z_score_in_strict_json(network, other, sign):
    assert modcore.spectral_cluster(HEAVY_PATH, n_clusters=2, seed=0).ncut == pytest.approx(36 / 35)
    assert modcore.spectral_cluster(CROSS, n_clusters=2, seed=0).ncut == pytest.approx(2 / 3)
    # A seed whose 4 shuffles all have the other shape (each does with probability 1/2).
    seed = next(
        s
        for s in range(200)
        if all(
            shape_of(
                modcore.shuffled_network(network, shuffle="layer", seed=s, index=i).chain_weights()
            )
            == other
            for i in range(4)
        )
    )
    res = modcore.ncut_significance(network, n_clusters=2, n_shuffles=4, seed=seed, progress=False)
    assert len(set(res.shuffled_ncuts.tolist())) == 1 and res.shuffled_std == 0.0
    assert res.z_score == float(sign)
    d = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert d["z_score"] == sign and float(d["z_score"]) == res.z_score


def test_a_null_equal_to_the_network_gives_z_zero():
    # Two disconnected blocks of equal weights: every "layer_nonzero" shuffle is the
    # same network, so the null has std 0 and the network equals it.
    w = [np.kron(np.eye(2), np.ones((3, 3)))]
    res = modcore.ncut_significance(
        w, n_clusters=2, n_shuffles=5, shuffle="layer_nonzero", seed=0, progress=False
    )
    assert res.shuffled_std == 0.0 and res.z_score == 0.0 and res.p_value == 1.0
    assert json.loads(json.dumps(res.to_dict(), allow_nan=False))["z_score"] == 0.0


# --- solver settings reach the shuffles ---------------------------------------------


@pytest.mark.parametrize("name, changed, baseline", REACH, ids=IDS)
def test_each_solver_setting_reaches_the_shuffles(pruned, name, changed, baseline):
    opts = dict(n_clusters=4, n_shuffles=6, seed=4, progress=False)
    a = modcore.ncut_significance(pruned, **opts, **changed).shuffled_ncuts
    b = modcore.ncut_significance(pruned, **opts, **baseline).shuffled_ncuts
    assert not np.array_equal(a, b)


# --- progress -----------------------------------------------------------------------


def test_progress_callback_sees_every_shuffle(pruned):
    seen = []
    modcore.ncut_significance(
        pruned,
        n_clusters=4,
        n_shuffles=9,
        seed=0,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen[-1] == (9, 9)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert {t for _, t in seen} == {9}


def test_progress_true_shows_the_null_on_stderr(pruned, capsys):
    # The display itself (tqdm and plain text) is tested in test_progress.py.
    modcore.ncut_significance(pruned, n_clusters=4, n_shuffles=9, seed=0, progress=True)
    err = capsys.readouterr().err
    assert "layer shuffles" in err and "9/9" in err


# --- bad input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"shuffle": "global"}, ValueError, "shuffle must be one of"),
        ({"n_shuffles": 0}, ValueError, "n_shuffles must be >= 1"),
        ({"n_shuffles": 1.5}, TypeError, "n_shuffles must be an int"),
        ({"n_jobs": -1}, ValueError, "n_jobs"),
        ({"n_clusters": 1}, ValueError, "n_clusters"),
        ({"seed": 1.0}, TypeError, "seed"),
    ],
)
def test_bad_parameters(pruned, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        modcore.ncut_significance(pruned, progress=False, **kwargs)


def test_bad_weights_are_rejected_before_any_work():
    with pytest.raises(ValueError, match="NaN"):
        modcore.ncut_significance([np.array([[np.nan, 1.0]])], n_clusters=2)


# --- Ctrl-C -------------------------------------------------------------------------


def test_ctrl_c_stops_a_long_null():
    rc, out, err = interrupt(
        """
        import sys, modcore
        from modcore.network.synthetic import random_pruned_mlp
        w = random_pruned_mlp(sparsity=0.9, seed=0)
        def tick(done, total):
            print("progress", flush=True)
        try:
            modcore.ncut_significance(w, n_shuffles=10**6, seed=0, n_jobs=2, progress=tick)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(130)
    """,
        ready="progress",
    )
    assert rc == 130 and "interrupted" in out, err


def test_ctrl_c_stops_a_long_single_clustering():
    """One C++ call that would run for many minutes still stops on Ctrl-C, seen by the
    C++ itself: SIGINT is sent once _core.cluster runs, and its handler must have run
    from inside that call (processes.WATCH_CORE), not in Python around it."""
    rc, out, err = interrupt(
        """
        import sys, modcore
        from modcore.network.synthetic import random_pruned_mlp
        w = random_pruned_mlp((784, 1024, 1024, 10), sparsity=0.7, seed=0)
        try:
            modcore.spectral_cluster(w, assign_labels="kmeans", n_init=100_000, seed=0, n_jobs=2)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(130)
    """,
        ready="inside",
        in_core="cluster",
        # "inside" is printed at the call's profile event, before pybind11 has read the
        # arguments: a second of CPU time later the call is in C++ whatever the load.
        busy_seconds=1.0,
    )
    assert rc == 130 and "interrupted" in out, err
    assert "SIGINT handled inside _core.cluster" in out, (out, err)


def test_a_single_shuffle_has_no_spread_so_no_z_score():
    w, _ = planted_modular_mlp([20, 20, 20], n_modules=2, seed=0)
    sig = modcore.ncut_significance(w, n_clusters=2, n_shuffles=1, seed=0, progress=False)
    assert math.isnan(sig.shuffled_std) and math.isnan(sig.z_score) and sig.p_value == 0.5
    assert sig.shuffled_mean == sig.shuffled_ncuts[0]
    d = json.loads(json.dumps(sig.to_dict()), parse_constant=pytest.fail)  # strict JSON
    assert (d["shuffled_std"], d["z_score"]) == ("nan", "nan")
    from modcore.report.verdict import verdict

    assert "use more" in verdict(sig) and "above their mean" not in verdict(sig)
