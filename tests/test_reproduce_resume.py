"""modcore reproduce stopped in the middle of a training resumes it bit for bit, also from a
record copied while it ran (python -m modcore.experiments.record) onto a fresh folder."""

import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("pandas")
pytestmark = pytest.mark.usefixtures("torch_one_thread")

from modcore.experiments import conditions, runlog, tables
from modcore.experiments import reproduce as rep
from modcore.experiments import runs as one_run
from modcore.experiments.record import main as record_main
from modcore.experiments.record import record_run
from modcore.nn import checkpoint, record
from test_reproduce import run_cli

# The CNN path on tiny data: 2 + 2 epochs, so a stop can fall in either phase.
CNN = dict(
    datasets=["line"],
    arch="cnn",
    hidden=None,
    seeds=1,
    n_shuffles=3,
    epochs=2,
    n_train=128,
    n_test=64,
    n_clusters=4,
    n_init=2,
    n_jobs=1,
    progress=False,
)
TIMES = {"seconds_train", "seconds_analysis", "finished_at"}


class Interrupt(KeyboardInterrupt):
    """Ctrl-C, or the end of a session, after some epoch."""


def stop_at_epoch(monkeypatch, n):
    """Make the next training stop (as at Ctrl-C) once it has finished its n-th epoch."""
    real = one_run._train_model

    def stopping(model, data, **kw):
        on_epoch = kw["on_epoch"]

        def stop(history):
            on_epoch(history)
            if len(history.loss) == n:
                monkeypatch.setattr(one_run, "_train_model", real)
                raise Interrupt

        return real(model, data, **{**kw, "on_epoch": stop})

    monkeypatch.setattr(one_run, "_train_model", stopping)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole")
    rep.reproduce(out=out, **CNN)
    return out


def same_networks(a, b):
    ma, mb = checkpoint.load(a).model.state_dict(), checkpoint.load(b).model.state_dict()
    return set(ma) == set(mb) and all(torch.equal(ma[k], mb[k]) for k in ma)


def rows(out):
    return {
        (r["condition"], r["seed"]): {k: v for k, v in r.items() if k not in TIMES}
        for r in runlog.read_runs(out / "runs.jsonl")
    }


def test_stopped_while_pruning_resumes_to_the_same_networks_and_rows(
    tmp_path, monkeypatch, uninterrupted
):
    out = tmp_path / "r"
    stop_at_epoch(monkeypatch, 3)  # the first pruned epoch
    with pytest.raises(Interrupt):
        rep.reproduce(out=out, **CNN)
    # The unpruned network was written when its phase ended, with its row; the training's
    # state is that after epoch 3, with the pruning masks.
    assert [r["condition"] for r in runlog.read_runs(out / "runs.jsonl")] == ["unpruned, dropout"]
    state = torch.load(out / "training" / "line_dropout_seed0.pt", weights_only=True)
    assert (state["phase"], state["epoch"]) == (1, 1)
    assert any(k.endswith("weight_mask") for k in state["model"])

    rep.reproduce(out=out, **CNN)
    for cond in conditions.CONDITIONS:
        name = one_run.checkpoint_path(out, "line", cond, 0).name
        assert same_networks(out / "checkpoints" / name, uninterrupted / "checkpoints" / name)
    assert rows(out) == rows(uninterrupted)
    assert list((out / "training").iterdir()) == []


def test_a_record_copied_mid_training_resumes_on_a_fresh_copy(tmp_path, monkeypatch, uninterrupted):
    out = tmp_path / "run"
    stop_at_epoch(monkeypatch, 3)
    with pytest.raises(Interrupt):
        rep.reproduce(out=out, **CNN)
    kept = tmp_path / "record"
    assert record_main([str(out), str(kept), "--seeds", "1"]) == 0

    # The record: the finished run's network in float16 safetensors, the training's
    # float32 state, the run log and a table that says it is partial.
    names = sorted(p.name for p in (kept / "checkpoints").iterdir())
    assert names == ["line_unpruned_dropout_seed0.safetensors"]
    saved = record.load(kept / "checkpoints" / names[0]).model.state_dict()
    full = checkpoint.load(out / "checkpoints" / "line_unpruned_dropout_seed0.pt").model
    for key, value in full.state_dict().items():
        assert torch.equal(saved[key], value.half().float()), key
    assert [p.name for p in (kept / "training").iterdir()] == ["line_dropout_seed0.pt"]
    state = torch.load(kept / "training" / "line_dropout_seed0.pt", weights_only=True)
    assert all(v.dtype == torch.float32 for v in state["model"].values() if v.is_floating_point())
    assert (kept / "table.md").read_text().startswith("Partial: 1 seeds per condition")
    assert len(runlog.read_runs(kept / "runs.jsonl")) == 1

    fresh = tmp_path / "clone"  # what a fresh clone of the repository holds
    shutil.copytree(kept, fresh)
    rep.reproduce(out=fresh, **CNN)
    for cond in ("pruned, dropout", "pruned", "unpruned"):
        name = one_run.checkpoint_path(fresh, "line", cond, 0).name
        assert same_networks(fresh / "checkpoints" / name, uninterrupted / "checkpoints" / name)
    assert rows(fresh) == rows(uninterrupted)
    assert "Partial" not in (fresh / "table.md").read_text()

    # Recorded again once finished: every network as safetensors, no state left.
    record_run(fresh, kept, seeds=1, say=lambda *a: None)
    assert sorted(p.suffix for p in (kept / "checkpoints").iterdir()) == [".safetensors"] * 4
    assert list((kept / "training").iterdir()) == []
    assert len(runlog.read_runs(kept / "runs.jsonl")) == 4


def test_a_network_whose_row_is_not_written_yet_is_recorded_in_float32(tmp_path, uninterrupted):
    # A copy taken between a checkpoint and its row keeps the float32 .pt, from which a
    # resumed reproduction computes the row exactly.
    out = tmp_path / "run"
    shutil.copytree(uninterrupted, out)
    lines = (out / "runs.jsonl").read_text().splitlines(keepends=True)
    (out / "runs.jsonl").write_text("".join(lines[:-1]))
    last = runlog.read_runs(uninterrupted / "runs.jsonl")[-1]
    record_run(out, tmp_path / "record", seeds=1, say=lambda *a: None)
    pt = sorted(p.name for p in (tmp_path / "record" / "checkpoints").glob("*.pt"))
    assert pt == [last["checkpoint"].split("/")[-1]]
    rep.reproduce(out=tmp_path / "record", **CNN)  # analysed from it, nothing trained
    assert rows(tmp_path / "record") == rows(uninterrupted)


@pytest.mark.parametrize(
    "device, message",
    [("tpu", "device must be 'cpu', 'cuda' or 'cuda:N'"), ("cuda:99", "CUDA device")],
)
def test_a_device_that_is_not_there_is_one_line_exit_2_and_creates_nothing(
    tmp_path, device, message
):
    proc = run_cli("reproduce", "--quick", "--out", tmp_path / "r", "--device", device)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_rows_are_recomputed_from_the_checkpoints_without_training(
    tmp_path, monkeypatch, uninterrupted
):
    # A new label rule means new rows, not new trainings: with runs.jsonl moved aside,
    # every row comes from its checkpoint, the run's float32 .pt (the same rows) or a
    # record's float16 safetensors (the same training record, the clustering of the
    # rounded weights).
    def no_training(*args, **kw):
        raise AssertionError("trained")

    monkeypatch.setattr(one_run, "_train_model", no_training)
    out = tmp_path / "again"
    shutil.copytree(uninterrupted, out)
    (out / "runs.jsonl").rename(out / "runs-before.jsonl")
    rep.reproduce(out=out, **CNN)
    assert rows(out) == rows(uninterrupted)

    kept = tmp_path / "record"
    record_run(uninterrupted, kept, seeds=1, say=lambda *a: None)
    (kept / "runs.jsonl").unlink()
    rep.reproduce(out=kept, **CNN)
    again = rows(kept)
    for key, row in rows(uninterrupted).items():
        assert again[key]["checkpoint"] == row["checkpoint"].replace(".pt", ".safetensors")
        for field in ("test_accuracy", "trained_epochs", "sparsity", "rules"):
            assert again[key][field] == row[field]
        assert again[key]["modcore_ncut"] == pytest.approx(row["modcore_ncut"], abs=0.05)


def test_committed_cnn_record_is_its_run_log_and_its_states_resume():
    # results/cnn is what the background CNN reproduction had finished when last recorded:
    # its table is the aggregate of its own run log (partial tables say so), every row's
    # network is there, and every training under way has a float32 state of the paper's
    # recipe that loads without running code.
    import json
    import os

    home = Path(os.path.dirname(__file__)).parent / "results" / "cnn"
    runs = runlog.read_runs(home / "runs.jsonl")
    table = tables.aggregate(runs)
    assert (home / "table.md").read_text() == tables.to_markdown(table, seeds=5) + "\n"
    summary = json.loads((home / "summary.json").read_text())
    assert summary["runs"] == len(runs) and summary["seeds"] == 5
    for run in runs:
        assert run["arch"] == "cnn" and run["epochs"] == 10 and run["n_shuffles"] == 320
        saved = (home / run["checkpoint"]).with_suffix(".safetensors")
        assert saved.exists() or (home / run["checkpoint"]).exists(), run["checkpoint"]
    states = sorted((home / "training").glob("*.pt"))
    assert [p.name for p in states] == summary["trainings_under_way"]
    for path in states:
        state = torch.load(path, weights_only=True)
        assert state["format"] == "modcore-training-state"
        phases = [(p["epochs"], p["batch_size"], p["n_train"]) for p in state["recipe"]]
        assert phases in ([(10, 64, 60000)] * 2, [(10, 64, 60000)])
        floats = [v for v in state["model"].values() if v.is_floating_point()]
        assert floats and all(v.dtype == torch.float32 for v in floats)
    assert runs or states  # the record holds the run's progress, whatever it is


def test_recording_a_folder_that_holds_no_reproduction_is_one_line_exit_2(tmp_path, capsys):
    assert record_main([str(tmp_path / "nothing"), str(tmp_path / "record")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no runs.jsonl; not the --out of a reproduction" in err[0]
    assert not (tmp_path / "record").exists()


def test_a_record_whose_config_asks_for_huge_layers_is_refused_before_building(tmp_path):
    # The committed CNN record with its config edited: checked against its tensors on the
    # meta device, as a checkpoint is, so nothing of 30,000 channels is allocated.
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    from modcore.nn import record

    home = Path(__file__).resolve().parent.parent / "results" / "cnn" / "checkpoints"
    source = sorted(home.glob("*.safetensors"))[0]
    with safe_open(source, "pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    config = json.loads(meta["config"])
    config["channels"] = [30000, 30000, 30000]
    edited = tmp_path / "edited.safetensors"
    save_file(tensors, edited, metadata={**meta, "config": json.dumps(config)})
    with pytest.raises(
        ValueError, match=r"edited\.safetensors: its config .* asks for .* parameters"
    ):
        record.load(edited)
