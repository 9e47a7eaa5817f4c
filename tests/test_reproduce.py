"""modcore reproduce: the quick run end to end, resume, skipped data sets, CLI errors."""

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("torch")
pd = pytest.importorskip("pandas")
pytestmark = pytest.mark.usefixtures("torch_one_thread")

from modcore import reproduce as rep  # noqa: E402

# In-process runs on a small MLP and tiny data: the whole path in about a second per run.
SMALL = dict(datasets=["line"], seeds=1, n_shuffles=3, epochs=1, n_train=200, n_test=100,
             hidden=(16, 16), n_clusters=4, n_init=2, n_jobs=1, progress=True)


def run_cli(*args, env=None, timeout=300):
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "modcore", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=env)


def test_quick_end_to_end_writes_well_formed_table(tmp_path):
    out = tmp_path / "results"
    proc = run_cli("reproduce", "--quick", "--shuffles", 8, "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "[4/4] line, unpruned, seed 0: test acc" in proc.stdout
    table = pd.read_csv(out / "table.csv")
    assert list(table.columns) == rep.table_columns()
    assert list(table["dataset"]) == ["line"] * 4
    assert list(table["condition"]) == list(rep.CONDITIONS)
    assert (table["seeds"] == 1).all()
    for col in ("ncut_mean", "layer_z_mean", "layer_nonzero_z_mean", "test_accuracy_mean",
                "random_init_ncut_mean", "layer_shuffled_mean_mean"):
        assert table[col].notna().all(), col
    assert table["layer_significant"].between(0, 1).all()
    md = (out / "table.md").read_text().splitlines()
    assert len(md) == 2 + 4 and md[0].startswith("| data set | condition |")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["arguments"]["n_shuffles"] == 8 and summary["arguments"]["epochs"] == 1
    assert summary["complete"] and summary["runs"] == 4 and "torch" in summary["versions"]
    assert summary["command"].startswith("modcore reproduce --quick")
    runs = rep.read_runs(out / "runs.jsonl")
    assert len(runs) == 4 and all(len(r["layer_ncuts"]) == 8 for r in runs)
    assert all((out / r["checkpoint"]).exists() for r in runs)
    pytest.importorskip("matplotlib")
    assert (out / "ncut.png").stat().st_size > 0


def test_resume_does_not_redo_finished_runs(tmp_path, monkeypatch, capsys):
    trainings = []
    real = rep._train_model

    def counting(model, data, pruned, epochs, seed, show):
        trainings.append(pruned)
        return real(model, data, pruned, epochs, seed, show)

    monkeypatch.setattr(rep, "_train_model", counting)
    out = tmp_path / "r"
    table = rep.reproduce(out=out, max_runs=1, **SMALL)  # "interrupted" after one run
    assert len(trainings) == 1 and len(table) == 1
    first = rep.read_runs(out / "runs.jsonl")
    assert len(first) == 1
    assert "stopping after 1 new runs" in capsys.readouterr().out

    table = rep.reproduce(out=out, **SMALL)
    assert len(trainings) == 4  # three more, not four
    assert "1 of 4 runs already in" in capsys.readouterr().out
    runs = rep.read_runs(out / "runs.jsonl")
    assert len(runs) == 4
    assert runs[0] == first[0]  # the first run untouched (same finished_at, same numbers)
    assert len({(r["dataset"], r["condition"], r["seed"]) for r in runs}) == 4
    assert list(table["condition"]) == list(rep.CONDITIONS)

    rep.reproduce(out=out, **SMALL)  # all done: nothing trained, table rewritten
    assert len(trainings) == 4


def test_damaged_last_line_is_dropped_and_redone(tmp_path):
    out = tmp_path / "r"
    rep.reproduce(out=out, max_runs=1, **SMALL)
    path = out / "runs.jsonl"
    line = path.read_text()
    path.write_text(line + line[:40])  # a crash in the middle of writing the second run
    assert len(rep.read_runs(path)) == 1
    assert path.read_text() == line


def test_other_settings_are_not_mixed_in(tmp_path):
    out = tmp_path / "r"
    rep.reproduce(out=out, max_runs=1, **SMALL)
    with pytest.raises(ValueError, match="other settings"):
        rep.reproduce(out=out, **{**SMALL, "n_shuffles": 4})


def test_missing_dataset_is_skipped_with_reason(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MODCORE_DATA", str(tmp_path / "empty"))
    table = rep.reproduce(out=tmp_path / "r", max_runs=1, data_dir=tmp_path / "empty",
                          **{**SMALL, "datasets": ["mnist", "line"]})
    printed = capsys.readouterr().out
    assert "skipping mnist: MNIST not found" in printed
    assert set(table["dataset"]) == {"line"}
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert "mnist" in summary["skipped"] and not summary["complete"]


@pytest.mark.parametrize("args, message", [
    (["--datasets", "imagenet"], "unknown data set 'imagenet'"),
    (["--seeds", "0"], "argument --seeds"),
    (["--shuffles", "-1"], "argument --shuffles"),
    (["--datasets", "mnist,cifar10"], "none of the data sets is available"),
    (["--datasets", ","], "--datasets is empty"),
])
def test_cli_errors_are_one_line_exit_2(tmp_path, args, message):
    empty = tmp_path / "empty"
    proc = run_cli("reproduce", "--quick", "--out", tmp_path / "r", "--data-dir", empty, *args,
                   env={"MODCORE_DATA": str(empty)})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_committed_results_match_their_run_log():
    # results/ holds the full reproduction quoted in the README: its table must be the
    # aggregate of its own run log, and the run log complete (2 data sets x 4 x 5 seeds).
    results = os.path.join(os.path.dirname(__file__), os.pardir, "results")
    runs = rep.read_runs(os.path.join(results, "runs.jsonl"))
    assert len(runs) == 40
    assert {(r["dataset"], r["condition"], r["seed"]) for r in runs} == {
        (d, c, s) for d in ("fashion", "line") for c in rep.CONDITIONS for s in range(5)}
    table = rep.aggregate(runs)
    committed = pd.read_csv(os.path.join(results, "table.csv"))
    pd.testing.assert_frame_equal(committed, table, check_dtype=False)
    with open(os.path.join(results, "table.md")) as f:
        assert f.read() == rep.to_markdown(table) + "\n"
    with open(os.path.join(results, "summary.json")) as f:
        summary = json.load(f)
    assert summary["complete"] and summary["runs"] == 40
