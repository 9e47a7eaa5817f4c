"""modcore reproduce --lesions: the quick path through the CLI, resume, reuse of the
reproduction's checkpoints, settings that do not mix."""

import json
import os

import pytest

pytest.importorskip("torch")
pytest.importorskip("pandas")
pytest.importorskip("scipy")
pytestmark = pytest.mark.usefixtures("torch_one_thread")

from modcore.experiments import lesions as rl
from modcore.experiments import reproduce as rep
from modcore.experiments import runs as one_run

# In-process runs on a small MLP and tiny data.
SMALL = dict(
    datasets=["line"],
    seeds=1,
    epochs=1,
    n_train=200,
    n_test=100,
    hidden=(16, 16),
    n_clusters=4,
    n_init=2,
    n_jobs=1,
)


@pytest.fixture
def trainings(monkeypatch):
    """Count the trainings (pruned or not) of both reproductions."""
    seen = []
    real = one_run._train_model

    def counting(model, data, **kw):
        seen.append(kw["prune"])
        return real(model, data, **kw)

    monkeypatch.setattr(one_run, "_train_model", counting)
    monkeypatch.setattr(rl, "_train_model", counting)
    return seen


def test_quick_path_through_the_cli(tmp_path, capsys):
    from modcore.cli.main import main

    out = tmp_path / "results"
    assert main(["reproduce", "--lesions", "--quick", "--out", out]) == 0
    printed = capsys.readouterr().out
    assert "[2/2] line, pruned, seed 0: test acc" in printed
    home = out / "lesions"
    runs = rl.read_lesion_runs(home / "runs.jsonl")
    assert [(r["condition"], r["seed"], r["rule"], r["n_random"]) for r in runs] == [
        ("pruned, dropout", 0, "paper", 10),
        ("pruned", 0, "paper", 10),
    ]
    for r in runs:
        study = json.loads((home / r["study"]).read_text())
        assert study["rule"] == "paper" and study["random_lesions"] == 10
        assert len(study["single"]) == r["n_sub_modules"] == sum(r["sub_modules_by_layer"])
        assert r["n_important"] == len(study["important"]) == sum(r["important_by_layer"])
        # every hidden layer counted, those without a sub-module as 0
        layers = [s["layer"] for s in study["single"]]
        assert r["sub_modules_by_layer"] == [layers.count(g) for g in range(1, 5)]
        assert (
            out / "checkpoints" / (r["study"][len("studies/") : -len(".json")] + ".pt")
        ).exists()
    table = (home / "table.md").read_text().splitlines()
    assert len(table) == 2 + 2 and table[0].startswith("| data set | condition | seeds |")
    summary = json.loads((home / "summary.json").read_text())
    assert summary["complete"] and summary["arguments"]["rule"] == "paper"
    assert summary["command"] is not None
    assert main(["reproduce", "--lesions", "--quick", "--n-shuffles", "5", "--out", out]) == 2
    assert "--n-shuffles does not apply to --lesions" in capsys.readouterr().err
    assert main(["reproduce", "--lesions", "--arch", "cnn", "--out", out]) == 2
    assert "'modcore lesion' on a CNN checkpoint" in capsys.readouterr().err


def test_resume_and_reuse_of_the_reproduction_checkpoints(tmp_path, trainings, capsys):
    out = tmp_path / "r"
    # The n-cut reproduction trains and saves the pruned networks first ...
    rep.reproduce(out=out, n_shuffles=2, progress=False, **SMALL)
    assert trainings == [True, True]  # one per dropout rate, each pruned and unpruned
    # ... the lesion reproduction lesions those very networks, stopping after one.
    rl.reproduce_lesions(out=out, n_random=3, max_runs=1, **SMALL)
    assert len(trainings) == 2
    assert "stopping after 1 new runs" in capsys.readouterr().out
    first = rl.read_lesion_runs(out / "lesions" / "runs.jsonl")
    assert len(first) == 1 and first[0]["seconds_train"] == 0.0
    rl.reproduce_lesions(out=out, n_random=3, **SMALL)
    assert "1 of 2 lesion runs already in" in capsys.readouterr().out
    runs = rl.read_lesion_runs(out / "lesions" / "runs.jsonl")
    assert len(runs) == 2 and runs[0] == first[0]
    with pytest.raises(ValueError, match="other settings"):
        rl.reproduce_lesions(out=out, n_random=4, **SMALL)


def test_networks_are_trained_when_absent_and_checked_when_present(tmp_path, trainings):
    out = tmp_path / "r"
    rl.reproduce_lesions(out=out, n_random=3, max_runs=1, progress=False, **SMALL)
    assert trainings == [True]  # the paper's recipe: pruned
    assert (out / "checkpoints" / "line_pruned_dropout_seed0.pt").exists()
    # A checkpoint trained with other settings is not taken for this run's network.
    data = one_run._load("line", None, {"arch": "mlp", "n_train": 200, "n_test": 100})
    with pytest.raises(ValueError, match="trained with other settings"):
        rl._network(
            data, "pruned, dropout", 0, {"arch": "mlp", "epochs": 2, "hidden": [16, 16]}, out, False
        )


def _row(condition, seed, spread_effect):
    tests = {
        "mean_chi2_p": 0.001,
        "mean_fisher_p": 0.2,
        "spread_chi2_p": 0.04,
        "spread_fisher_p": 0.9,
        "mean_effect": 1.1,
        "spread_effect": spread_effect,
    }
    return {
        "dataset": "fashion",
        "condition": condition,
        "seed": seed,
        "base_accuracy": 0.89,
        "n_sub_modules": 30,
        "n_important": 9,
        "important_by_layer": [1, 1, 2, 5],
        "network_tests": tests,
        "n_pairs": 20,
        "dependency_types": {"I": 1, "II": 2, "III": 3, "IV": 4},
    }


def test_aggregate_counts_infinite_effect_factors_instead_of_averaging_them():
    # through JSON, as the rows are read back from runs.jsonl (inf is written "Infinity")
    rows = json.loads(
        json.dumps(
            [
                _row("pruned", 0, 1.5),
                _row("pruned", 1, float("inf")),
                _row("pruned", 2, 2.5),
                _row("pruned, dropout", 0, float("inf")),
                _row("pruned, dropout", 1, None),
            ]
        )
    )
    table = rl.aggregate_lesions(rows).splitlines()
    cells = {line.split(" | ")[1]: line.split(" | ") for line in table[2:]}
    spread = table[0].split(" | ").index("spread effect")
    assert cells["pruned"][spread] == "2.000 ± 0.707; inf in 1/3"
    assert cells["pruned, dropout"][spread] == "inf in 1/2"
    chi2_fisher = table[0].split(" | ").index("mean acc.: chi2 / Fisher p < 0.05")
    assert cells["pruned"][chi2_fisher] == "3/3 / 0/3"


def test_committed_lesion_results_match_their_run_log_and_the_readme():
    # results/lesions holds the study quoted in the README: its table is the aggregate of
    # its own run log, the log is complete (5 seeds x 2 pruned conditions of Fashion-MNIST,
    # the paper's settings), each row agrees with its saved study, and the README shows the
    # committed table.
    root = os.path.join(os.path.dirname(__file__), os.pardir)
    home = os.path.join(root, "results", "lesions")
    runs = rl.read_lesion_runs(os.path.join(home, "runs.jsonl"))
    assert {(r["dataset"], r["condition"], r["seed"]) for r in runs} == {
        ("fashion", c, s) for c in rl.LESION_CONDITIONS for s in range(5)
    }
    assert len(runs) == 10
    assert {(r["rule"], r["n_random"], r["n_clusters"], r["epochs"]) for r in runs} == {
        ("paper", 100, 12, 20)
    }
    for r in runs:
        with open(os.path.join(home, r["study"])) as f:
            study = json.load(f)
        assert (study["condition"], study["seed"]) == (r["condition"], r["seed"])
        assert sum(s["important"] for s in study["single"]) == r["n_important"]
        assert len(study["pairs"]) == r["n_pairs"]
    with open(os.path.join(home, "table.md")) as f:
        table = f.read()
    assert table == rl.aggregate_lesions(runs) + "\n"
    with open(os.path.join(root, "README.md")) as f:
        readme = f.read()
    assert all(line in readme for line in table.splitlines()[2:])
    with open(os.path.join(home, "summary.json")) as f:
        summary = json.load(f)
    assert summary["complete"] and summary["runs"] == 10
