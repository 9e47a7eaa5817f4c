import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import modcore
from modcore.cluster import check_settings
from modcore.network import Network
from modcore.significance import shuffled_scores
from modcore.synthetic import planted_modular_mlp, random_pruned_mlp


@pytest.fixture(scope="module")
def pruned():
    return random_pruned_mlp((60, 50, 40, 10), sparsity=0.7, seed=0)


@pytest.mark.parametrize("index", [0, 1, 17])
def test_layer_shuffle_keeps_each_layers_multiset(pruned, index):
    for w, s in zip(pruned, modcore.shuffled_weights(pruned, shuffle="layer", seed=3, index=index)):
        assert s.shape == w.shape
        np.testing.assert_array_equal(np.sort(s.ravel()), np.sort(w.ravel()))
    moved = modcore.shuffled_weights(pruned, shuffle="layer", seed=3, index=index)[0]
    assert not np.array_equal(moved != 0, pruned[0] != 0)  # positions do move


@pytest.mark.parametrize("index", [0, 5])
def test_layer_nonzero_shuffle_keeps_positions_and_values(pruned, index):
    shuffled = modcore.shuffled_weights(pruned, shuffle="layer_nonzero", seed=1, index=index)
    for w, s in zip(pruned, shuffled):
        np.testing.assert_array_equal(s != 0, w != 0)
        np.testing.assert_array_equal(np.sort(s[s != 0]), np.sort(w[w != 0]))
    assert not np.array_equal(shuffled[0], pruned[0])


def test_distribution_shuffles_keep_pattern_and_resemble_values(pruned):
    big = random_pruned_mlp((400, 300), sparsity=0.5, seed=1)
    s = modcore.shuffled_weights(big, shuffle="layer_nonzero_distribution", seed=0)[0]
    w = big[0]
    np.testing.assert_array_equal(s != 0, w != 0)
    assert not np.isin(s[s != 0], w[w != 0]).any()  # fresh values, not a permutation
    # A KDE sample: same mean, variance inflated by (1 + n^(-2/5)) only.
    assert abs(s[s != 0].mean() - w[w != 0].mean()) < 0.05 * w[w != 0].std()
    assert s[s != 0].std() == pytest.approx(w[w != 0].std(), rel=0.05)
    a = modcore.shuffled_weights(big, shuffle="layer_all_distribution", seed=0)[0]
    assert np.count_nonzero(a) == np.count_nonzero(w)
    assert not np.array_equal(a != 0, w != 0)


def test_shuffles_are_reproducible_and_indexed(pruned):
    a = modcore.shuffled_weights(pruned, shuffle="layer", seed=5, index=2)
    b = modcore.shuffled_weights(pruned, shuffle="layer", seed=5, index=2)
    c = modcore.shuffled_weights(pruned, shuffle="layer", seed=5, index=3)
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def test_planted_network_is_significant():
    weights, _ = planted_modular_mlp((40, 48, 48, 24), 4, noise=0.02, seed=0)
    res = modcore.ncut_significance(weights, n_clusters=4, n_shuffles=50, seed=0, progress=False)
    assert res.p_value == pytest.approx(1 / 51)
    assert res.z_score < -10
    assert res.percentile == 0.0
    assert res.ncut < res.shuffled_ncuts.min()


def test_statistics_follow_their_definitions(pruned):
    res = modcore.ncut_significance(pruned, n_clusters=4, n_shuffles=30, shuffle="layer_nonzero",
                                    seed=2, progress=False)
    null = res.shuffled_ncuts
    assert null.shape == (30,)
    assert res.shuffled_mean == pytest.approx(null.mean())
    assert res.shuffled_std == pytest.approx(null.std(ddof=1))
    assert res.z_score == pytest.approx((res.ncut - null.mean()) / null.std(ddof=1))
    assert res.p_value == pytest.approx((1 + np.sum(null <= res.ncut)) / 31)
    assert res.ncut == modcore.spectral_cluster(pruned, n_clusters=4, seed=2).ncut
    assert ((0 <= null) & (null <= 4)).all()
    d = json.loads(json.dumps(res.to_dict()))
    assert d["p_value"] == res.p_value and len(d["shuffled_ncuts"]) == 30
    assert "p=" in repr(res)


def test_p_values_of_null_networks_are_roughly_uniform():
    """A net that is itself a layer shuffle is exchangeable with its null: p ~ uniform."""
    p = []
    for seed in range(100):
        base = random_pruned_mlp((16, 20, 20, 8), sparsity=0.6, seed=seed)
        net = modcore.shuffled_weights(base, shuffle="layer", seed=seed, index=0)
        res = modcore.ncut_significance(net, n_clusters=3, n_shuffles=99, n_init=2, seed=seed,
                                        progress=False)
        p.append(res.p_value)
    p = np.array(p)
    assert np.sum(p <= 0.01) <= 5      # expected 1
    assert np.sum(p <= 0.1) <= 20      # expected 10
    assert 0.35 < p.mean() < 0.65      # expected 0.5


def test_same_result_for_any_threads_and_chunks(pruned):
    args = dict(n_clusters=4, n_shuffles=12, shuffle="layer", seed=11, progress=False)
    one = modcore.ncut_significance(pruned, n_jobs=1, **args).shuffled_ncuts
    two = modcore.ncut_significance(pruned, n_jobs=2, **args).shuffled_ncuts
    np.testing.assert_array_equal(one, two)
    for chunk in (1, 5, 12):
        chunked = shuffled_scores(Network.from_weights(pruned), "layer", 12,
                                  check_settings(n_clusters=4), 11, 2, False,
                                  chunk_size=chunk).ncut[:, 0]
        np.testing.assert_array_equal(one, chunked)


def test_progress_callback_sees_every_shuffle(pruned):
    seen = []
    modcore.ncut_significance(pruned, n_clusters=4, n_shuffles=9, seed=0,
                              progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (9, 9)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


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


def interrupt(script, delay):
    """Run script, wait for its first line, send SIGINT after `delay` s; (rc, out, err, seconds)."""
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        assert first, proc.stderr.read()
        time.sleep(delay)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        return proc.returncode, first + out, err, time.monotonic() - sent
    finally:
        proc.kill()


def test_ctrl_c_stops_a_long_null_promptly():
    rc, out, err, seconds = interrupt("""
        import sys, modcore
        from modcore.synthetic import random_pruned_mlp
        w = random_pruned_mlp(sparsity=0.9, seed=0)
        def tick(done, total):
            print("progress", done, flush=True)
        try:
            modcore.ncut_significance(w, n_shuffles=100000, seed=0, n_jobs=2, progress=tick)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(130)
    """, delay=0.0)
    assert out.startswith("progress") and rc == 130, err
    assert "interrupted" in out
    assert seconds < 5.0


def test_ctrl_c_stops_a_long_single_clustering_promptly():
    """One C++ call that would run for minutes still stops on Ctrl-C."""
    rc, out, err, seconds = interrupt("""
        import sys, modcore
        from modcore.synthetic import random_pruned_mlp
        w = random_pruned_mlp((784, 1024, 1024, 10), sparsity=0.7, seed=0)
        print("started", flush=True)
        try:
            modcore.spectral_cluster(w, n_init=100000, seed=0, n_jobs=2)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(130)
    """, delay=2.0)  # well inside the clustering
    assert rc == 130, err
    assert "interrupted" in out
    assert seconds < 5.0


def test_infinite_z_score_is_strict_json():
    # Two disconnected blocks of equal weights: every "layer_nonzero" shuffle is the
    # same network, so the null has std 0 and z is defined as 0 (equal) or +-inf.
    block = np.ones((3, 3))
    w = [np.kron(np.eye(2), block)]
    res = modcore.ncut_significance(w, n_clusters=2, n_shuffles=5, shuffle="layer_nonzero",
                                    seed=0, progress=False)
    assert res.shuffled_std == 0.0 and res.z_score == 0.0  # all equal, including the net
    d = res.to_dict()
    json.dumps(d, allow_nan=False)
    object.__setattr__(res, "z_score", -np.inf)
    assert res.to_dict()["z_score"] == "-inf"
    json.dumps(res.to_dict(), allow_nan=False)
