"""modcore reproduce --conditions: the ways of training for modularity (clusterable init,
L1, L2, the spectral regularizer, the partition loss), each unpruned and pruned."""

import json

import pytest

pytest.importorskip("torch")
pd = pytest.importorskip("pandas")
pytestmark = pytest.mark.usefixtures("torch_one_thread")

import torch

from modcore.experiments import conditions, runlog
from modcore.experiments import reproduce as rep
from modcore.experiments import runs as one_run
from modcore.nn.regularizers import Partition, Spectral
from test_reproduce import SMALL, run_cli


def test_conditions_train_with_their_terms_resume_and_table(tmp_path, monkeypatch):
    seen = {}
    real = one_run._train_model

    def spying(model, data, **kw):
        first = model[0].weight.detach().clone()
        seen[kw["state"].name] = (first, kw["terms"], kw["prune"])
        return real(model, data, **kw)

    monkeypatch.setattr(one_run, "_train_model", spying)
    out = tmp_path / "r"
    asked = ["plain", "clusterable-init", "l1", "spectral", "partition"]
    rep.reproduce(out=out, conditions=asked, max_runs=3, **SMALL)
    assert len(runlog.read_runs(out / "runs.jsonl")) == 3
    table = rep.reproduce(out=out, conditions=asked, **SMALL)  # resumes
    runs = runlog.read_runs(out / "runs.jsonl")
    names = [r["condition"] for r in runs]
    assert len(names) == len(set(names)) == 10
    # Table: pruned conditions first, then unpruned, trainings in TRAININGS order.
    assert list(table["condition"]) == [
        "pruned",
        "pruned, clusterable-init",
        "pruned, l1",
        "pruned, spectral",
        "pruned, partition",
        "unpruned",
        "unpruned, clusterable-init",
        "unpruned, l1",
        "unpruned, spectral",
        "unpruned, partition",
    ]
    for r in runs:
        training = conditions.ALL_CONDITIONS[r["condition"]][1]
        assert r["training"] == conditions.TRAININGS[training]
        assert r["pruned"] == r["condition"].startswith("pruned")
    # Each training got its terms, and only its own.
    terms = {name.split("_")[1]: t for name, (_, t, _) in seen.items()}
    assert terms["no-dropout"] == {}
    assert terms["l1"] == {"l1": 5e-5}
    assert terms["spectral"] == {"spectral": Spectral(strength=0.1, n_eigenvalues=3, every=1)}
    assert terms["partition"] == {
        "partition": Partition(strength=1.0, n_clusters=12, refresh_every=100)
    }
    assert terms["clusterable-init"] == {}
    # The clusterable initialisation scaled the weights of the same seed's plain init
    # (the first layer is left as it is, by the authors' rule: compare the second).
    data = one_run._load("line", None, runs[0])
    plain = one_run._model(data, runs[0], "plain", 0)
    planted = one_run._model(data, runs[0], "clusterable-init", 0)
    assert torch.equal(plain[0].weight, planted[0].weight)
    assert not torch.equal(plain[2].weight, planted[2].weight)
    # The random-init n-cut of the clusterable-init runs is that of the planted init.
    by = {r["condition"]: r for r in runs}
    assert (
        by["unpruned, clusterable-init"]["modcore_random_init_ncut"]
        < by["unpruned"]["modcore_random_init_ncut"]
    )
    md = (out / "table.md").read_text()
    assert "Partial" not in md and "pruned, spectral" in md
    summary = json.loads((out / "summary.json").read_text())
    assert summary["arguments"]["conditions"] == asked
    assert summary["trainings"]["l1"] == {"dropout": 0.0, "l1": 5e-5}
    assert (out / "ncut.png").stat().st_size > 0


def test_a_run_trained_with_other_values_is_refused(tmp_path):
    out = tmp_path / "r"
    rep.reproduce(out=out, conditions=["l2"], max_runs=1, **SMALL)
    path = out / "runs.jsonl"
    (row,) = [json.loads(line) for line in path.read_text().splitlines()]
    assert row["condition"] == "unpruned, l2"
    row["training"]["l2"] = 1e-3
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(ValueError, match=r"trained with .*'l2': 0\.001.* use another --out"):
        rep.reproduce(out=out, conditions=["l2"], **SMALL)


def test_other_conditions_in_out_are_kept_but_left_out_of_the_table(tmp_path):
    out = tmp_path / "r"
    rep.reproduce(out=out, conditions=["l1"], max_runs=1, **SMALL)
    table = rep.reproduce(out=out, conditions=["l2"], max_runs=1, **SMALL)
    assert list(table["condition"]) == ["unpruned, l2"]
    assert len(runlog.read_runs(out / "runs.jsonl")) == 2
    assert "Partial" in (out / "table.md").read_text()  # pruned, l2 not there yet


@pytest.mark.parametrize("bad", [["bogus"], [], "l1"])
def test_bad_conditions_are_refused_before_any_work(tmp_path, bad):
    with pytest.raises((ValueError, TypeError), match="training"):
        rep.reproduce(out=tmp_path / "r", conditions=bad, **SMALL)
    assert not (tmp_path / "r").exists()


def test_cli_conditions_errors_are_one_line():
    proc = run_cli("reproduce", "--conditions", "l1,bogus", "--quick")
    assert proc.returncode == 2
    assert "--conditions: unknown bogus" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = run_cli("reproduce", "--lesions", "--conditions", "l1")
    assert proc.returncode == 2 and "--conditions does not apply" in proc.stderr


def test_a_clusterable_init_the_hidden_layers_cannot_hold_is_refused_first(tmp_path):
    out = tmp_path / "r"
    with pytest.raises(ValueError, match=r"clusterable-init condition: .*hidden layer 2 has 8"):
        rep.reproduce(out=out, conditions=["clusterable-init"], **{**SMALL, "hidden": (16, 8)})
    assert not out.exists()  # nothing trained, nothing written
