"""--drop and --normalize reach every command that clusters: analyze (one k, a range of k,
"auto"), sweep and reproduce."""

import json
import warnings

import numpy as np
import pytest

import modcore
import modcore.experiments.reproduce
from modcore.cli import main as cli
from modcore.network.synthetic import random_pruned_mlp

OPTIONS = ["--drop", "unreachable", "--normalize", "rescale"]
API = dict(drop="unreachable", normalize="rescale")


@pytest.fixture
def net(tmp_path):
    weights = random_pruned_mlp((24, 20, 16, 8), sparsity=0.9, seed=0)  # 2 unreachable units
    path = tmp_path / "net.npz"
    np.savez(path, *weights)
    return weights, path


def analyze(path, out, *extra):
    args = ["analyze", path, "--n-shuffles", "4", "--seed", "1", "--json", out, "--quiet"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", modcore.EigengapWarning)
        assert cli.main([*args, *extra]) == 0
    return json.loads(out.read_text())


def test_analyze_at_one_k(net, tmp_path, capsys):
    weights, path = net
    res = analyze(path, tmp_path / "a.json", "--n-clusters", "3", *OPTIONS)
    sig = modcore.ncut_significance(
        weights, n_clusters=3, n_shuffles=4, seed=1, progress=False, **API
    )
    null = res["nulls"]["layer"]
    assert res["ncut"] == sig.ncut and null["shuffled_ncuts"] == sig.shuffled_ncuts.tolist()
    assert (null["drop"], null["normalize"], null["n_dropped"]) == ("unreachable", "rescale", 7)
    assert null["n_unreachable"] == 2
    default = analyze(path, tmp_path / "b.json", "--n-clusters", "3")["nulls"]["layer"]
    assert (default["drop"], default["normalize"], default["n_dropped"]) == ("isolated", None, 5)


def test_analyze_over_a_range_and_auto(net, tmp_path):
    weights, path = net
    res = analyze(path, tmp_path / "a.json", "--n-clusters", "2:3", *OPTIONS)
    curve = modcore.ncut_curve(weights, ks=[2, 3], n_shuffles=4, seed=1, progress=False, **API)
    assert (
        res["nulls"]["layer"]["shuffled_ncuts"]
        == curve.significance(res["n_clusters"]).shuffled_ncuts.tolist()
    )
    res = analyze(path, tmp_path / "b.json", "--n-clusters", "auto", *OPTIONS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", modcore.EigengapWarning)
        gap = modcore.eigengap(weights, seed=1, **API)
    assert res["eigengap"]["eigenvalues"] == gap.eigenvalues.tolist()


def test_sweep(net, tmp_path, capsys):
    pd = pytest.importorskip("pandas")
    weights, path = net
    out = tmp_path / "rows.csv"
    args = ["sweep", path, "--n-clusters", "3", "--n-shuffles", "4", "--seed", "1", "--quiet"]
    assert cli.main([*args, "--out", out, *OPTIONS]) == 0
    row = pd.read_csv(out).iloc[0]
    sig = modcore.ncut_significance(
        weights, n_clusters=3, n_shuffles=4, seed=1, progress=False, **API
    )
    assert row["ncut"] == sig.ncut and row["n_dropped"] == 7
    assert (row["drop"], row["normalize"]) == ("unreachable", "rescale")


def test_reproduce_is_given_them(monkeypatch, tmp_path, capsys):
    pytest.importorskip("torch")
    pytest.importorskip("pandas")
    seen = {}
    monkeypatch.setattr(modcore.experiments.reproduce, "reproduce", lambda **kw: seen.update(kw))
    assert cli.main(["reproduce", "--quick", "--out", tmp_path / "r", *OPTIONS]) == 0
    assert (seen["drop"], seen["normalize"]) == ("unreachable", "rescale")
    assert cli.main(["reproduce", "--quick", "--out", tmp_path / "r"]) == 0
    assert (seen["drop"], seen["normalize"]) == ("isolated", None)
