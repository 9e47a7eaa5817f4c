"""The verdict over a range of k: the min-p correction against a brute-force oracle and
its bounds, the same shuffled network at every k, the headline k, and how the CLI and the
report say what was chosen and what is corrected."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import modcore
from modcore.method.multiple_testing import min_p_corrected
from modcore.network.synthetic import planted_modular_mlp, random_pruned_mlp


def brute_force_min_p(observed, null):
    """Every row (observation first) against every other, one comparison at a time."""
    rows = [list(observed)] + [list(r) for r in null]
    m, n_tests = len(rows), len(observed)

    def smallest_p(i):
        return min(sum(rows[j][t] <= rows[i][t] for j in range(m)) / m for t in range(n_tests))

    return sum(smallest_p(i) <= smallest_p(0) for i in range(m)) / m


def test_min_p_hand_case():
    # Ranks (rows <= it, of 4) per column, smallest of each row:
    # observation [0, 4]: (1, 2) -> 1; [1, 5]: (2, 3) -> 2; [2, 0.5]: (3, 1) -> 1;
    # [3, 6]: (4, 4) -> 4. Rows whose smallest is <= 1: the observation and [2, 0.5]: 2 / 4.
    null = np.array([[1.0, 5.0], [2.0, 0.5], [3.0, 6.0]])
    assert min_p_corrected([0.0, 4.0], null) == 0.5
    assert min_p_corrected([0.0, 4.0], null) == brute_force_min_p([0.0, 4.0], null)


@settings(deadline=None, max_examples=60)
@given(
    data=arrays(
        np.float64,
        st.tuples(st.integers(2, 12), st.integers(1, 5)),
        elements=st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0, 3.0]),  # ties on purpose
    )
)
def test_min_p_equals_brute_force_and_keeps_its_bounds(data):
    observed, null = data[0], data[1:]
    p = min_p_corrected(observed, null)
    assert p == pytest.approx(brute_force_min_p(observed, null), abs=1e-12)
    uncorrected = (1 + (null <= observed).sum(axis=0)) / len(data)
    # Never below the best uncorrected p; never above Bonferroni's bound.
    assert uncorrected.min() - 1e-12 <= p <= min(1.0, len(observed) * uncorrected.min()) + 1e-12


def test_min_p_of_one_test_is_its_p_value():
    rng = np.random.default_rng(0)
    null = rng.normal(size=(30, 1))
    observed = np.array([null[5, 0]])
    assert min_p_corrected(observed, null) == (1 + np.count_nonzero(null <= observed)) / 31


@pytest.mark.parametrize(
    "observed, null, match",
    [
        ([], np.zeros((3, 0)), "observed must be 1-D"),
        ([1.0, 2.0], np.zeros((3, 3)), r"null must have shape \(n_draws >= 1, 2\)"),
        ([1.0], np.zeros((0, 1)), "null must have shape"),
        ([np.nan], np.zeros((3, 1)), "NaN"),
    ],
)
def test_min_p_bad_input(observed, null, match):
    with pytest.raises(ValueError, match=match):
        min_p_corrected(observed, null)


@pytest.fixture(scope="module")
def small():
    return random_pruned_mlp((30, 30, 20), sparsity=0.6, seed=3)


def test_shuffle_s_is_the_same_network_at_every_k(small):
    """The correction needs it: row s of the curve's null is one shuffled network."""
    curve = modcore.ncut_curve(small, ks=[2, 3, 5], n_shuffles=4, seed=7, progress=False)
    for s in range(4):
        shuffled = modcore.shuffled_network(small, shuffle="layer", seed=7, index=s)
        for j, k in enumerate(curve.ks):
            alone = modcore.spectral_cluster(shuffled, n_clusters=int(k), seed=7)
            assert alone.eigen_method == "dense"
            assert curve.shuffled_ncuts[s, j] == pytest.approx(alone.ncut, abs=1e-9)


def test_curve_corrected_p_and_best_k(small):
    curve = modcore.ncut_curve(small, ks=range(2, 7), n_shuffles=19, seed=0, progress=False)
    assert curve.corrected_p_value == min_p_corrected(curve.ncut, curve.shuffled_ncuts)
    assert curve.p_value.min() <= curve.corrected_p_value <= 5 * curve.p_value.min()
    order = sorted(zip(curve.p_value, curve.z_score, curve.ks))
    assert curve.best_k == order[0][2]
    d = json.loads(json.dumps(curve.to_dict(), allow_nan=False))
    assert d["best_k"] == curve.best_k and d["corrected_p_value"] == curve.corrected_p_value
    assert f"best_k={curve.best_k}" in repr(curve)


def test_best_k_with_one_shuffle_ranks_by_p_then_smallest_k(small):
    """One shuffle: every z is NaN; the choice still follows the stated rule."""
    curve = modcore.ncut_curve(small, ks=[2, 3, 4], n_shuffles=1, seed=0, progress=False)
    assert np.isnan(curve.z_score).all()
    lowest = curve.p_value.min()
    assert curve.best_k == int(curve.ks[np.flatnonzero(curve.p_value == lowest)[0]])


def test_verdict_over_k_wording():
    from modcore.report.verdict import verdict_over_k

    rows = [
        {"n_clusters": k, "n_shuffles": 19, "shuffle": "layer", "p_value": p}
        for k, p in [(2, 0.3), (4, 0.05), (8, 0.4)]
    ]
    curve = {"ks": [2, 4, 8], "best_k": 4, "corrected_p_value": 0.15, "per_k": rows}
    text = verdict_over_k(curve)
    assert text.startswith("not significantly more modular than 19 'layer' shuffles at any k")
    assert "{2, 4, 8}" in text and "p = 0.15 corrected for choosing k" in text
    assert "best k = 4, where uncorrected p = 0.05" in text
    assert "cannot go below" not in text  # 1/20 reaches 0.05
    few = {**curve, "per_k": [{**r, "n_shuffles": 9} for r in rows]}
    assert "with 9 shuffles p cannot go below 0.1" in verdict_over_k(few)


@pytest.fixture
def npz(tmp_path):
    w, _ = planted_modular_mlp((30, 30, 30), 4, noise=0.3, seed=0)
    path = tmp_path / "net.npz"
    np.savez(path, *w)
    return path


def test_cli_range_headlines_the_corrected_verdict(npz, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from modcore.cli.main import main

    out, report = tmp_path / "res.json", tmp_path / "rep"
    argv = ["analyze", npz, "--n-clusters", "2:6", "--n-shuffles", "19", "--quiet"]
    assert main([*argv, "--json", out, "--report", report]) == 0
    printed = capsys.readouterr().out
    res = json.loads(out.read_text())
    curve = res["curves"]["layer"]
    assert res["n_clusters"] == curve["best_k"]
    assert "p uncorr." in printed and "lowest uncorrected p-value" in printed
    assert "over k: more modular than 19 'layer' shuffles at some k of 2..6: p = " in printed
    assert f"p = {curve['corrected_p_value']:.2g} corrected for choosing k" in printed
    page = (report / "index.html").read_text()
    assert 'id="over-k"' in page and "corrected for choosing k" in page
    assert "p-value (uncorrected)" in page and "p-value (uncorrected for choosing k)" in page
    assert "How k was chosen: k = " in page


def test_cli_auto_shows_the_neighbouring_k(npz, tmp_path, capsys):
    from modcore.cli.main import main

    out = tmp_path / "res.json"
    argv = ["analyze", npz, "--n-clusters", "auto", "--n-shuffles", "9", "--quiet"]
    assert main([*argv, "--json", out]) == 0
    printed = capsys.readouterr().out
    res = json.loads(out.read_text())
    k = res["eigengap"]["k"]
    assert res["n_clusters"] == k
    assert res["curves"]["layer"]["ks"] == [k - 1, k, k + 1]
    assert "at the neighbouring k" in printed
    for other in (k - 1, k + 1):
        assert f"k = {other}: " in printed
    assert "is the eigengap's suggestion" in printed


def test_cli_scheduler_needs_one_k(npz, capsys):
    from modcore.cli.main import main

    argv = ["analyze", npz, "--n-clusters", "2:4", "--scheduler", "tcp://127.0.0.1:1"]
    assert main(argv) == 2
    assert "--scheduler runs the null of one k" in capsys.readouterr().err


@pytest.mark.parametrize(
    "value, why",
    [
        ("5:3", "did you mean 3:5?"),
        ("2:2", "a range holds at least two k; for one k write 2"),
        ("1:5", "1 is not in [2, "),
        ("x", "got 'x'"),
    ],
)
def test_cli_bad_ranges_say_why(npz, value, why, capsys):
    from modcore.cli.main import main

    assert main(["analyze", npz, "--n-clusters", value]) == 2
    assert why in capsys.readouterr().err
