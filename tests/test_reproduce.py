"""modcore reproduce: the quick run end to end, resume, skipped data sets, CLI errors."""

import dataclasses
import inspect
import json
import math
import os
import struct
import subprocess
import sys

import pytest

pytest.importorskip("torch")
pd = pytest.importorskip("pandas")
pytestmark = pytest.mark.usefixtures("torch_one_thread")

import modcore
from modcore.experiments import conditions, runlog, tables
from modcore.experiments import reproduce as rep
from modcore.experiments import runs as one_run

# In-process runs on a small MLP and tiny data: the whole path in about a second per run.
SMALL = dict(
    datasets=["line"],
    seeds=1,
    n_shuffles=3,
    epochs=1,
    n_train=200,
    n_test=100,
    hidden=(16, 16),
    n_clusters=4,
    n_init=2,
    n_jobs=1,
    progress=True,
)


def run_cli(*args, env=None, timeout=300):
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "modcore", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def test_quick_end_to_end_writes_well_formed_table(tmp_path):
    out = tmp_path / "results"
    proc = run_cli("reproduce", "--quick", "--n-shuffles", 8, "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "[4/4] line, pruned, seed 0: test acc" in proc.stdout
    table = pd.read_csv(out / "table.csv")
    assert list(table.columns) == tables.table_columns()
    assert list(table["dataset"]) == ["line"] * 4
    assert list(table["condition"]) == list(conditions.CONDITIONS)
    assert (table["seeds"] == 1).all()
    for rule in conditions.RULES:  # both label rules, each in full
        for col in (
            "ncut_mean",
            "layer_z_mean",
            "layer_nonzero_z_mean",
            "random_init_ncut_mean",
            "layer_shuffled_mean_mean",
        ):
            assert table[f"{rule}_{col}"].notna().all(), (rule, col)
        assert table[f"{rule}_layer_significant"].between(0, 1).all()
    assert table["test_accuracy_mean"].notna().all()
    md = (out / "table.md").read_text().split("\n\n")
    assert [part.splitlines()[0] for part in md] == [
        f"#### {rule}: {what}" for rule, (what, _) in conditions.RULES.items()
    ]
    for part in md:
        lines = part.splitlines()
        assert len(lines) == 1 + 2 + 4 and lines[1].startswith("| data set | condition |")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["arguments"]["n_shuffles"] == 8 and summary["arguments"]["epochs"] == 1
    assert summary["complete"] and summary["runs"] == 4 and "torch" in summary["versions"]
    assert summary["command"].startswith("modcore reproduce --quick")
    runs = runlog.read_runs(out / "runs.jsonl")
    assert len(runs) == 4
    assert all(len(r[f"{rule}_layer_ncuts"]) == 8 for r in runs for rule in conditions.RULES)
    assert all(r["rules"] == one_run.rules_made(r) for r in runs)
    assert all((out / r["checkpoint"]).exists() for r in runs)
    pytest.importorskip("matplotlib")
    head = (out / "ncut.png").read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    width, height = struct.unpack(">II", head[16:24])
    assert 300 <= width <= 3000 and 200 <= height <= 2000, (width, height)
    assert sorted(p.name for p in out.iterdir()) == [  # no temporary file left behind
        "checkpoints",
        "ncut.png",
        "runs.jsonl",
        "summary.json",
        "table.csv",
        "table.md",
        "training",
    ]
    assert list((out / "training").iterdir()) == []  # every training finished


def test_resume_does_not_redo_finished_runs_or_epochs(tmp_path, monkeypatch, capsys):
    trainings = []
    real = one_run._train_model

    def counting(model, data, **kw):
        trainings.append(kw["prune"])
        return real(model, data, **kw)

    monkeypatch.setattr(one_run, "_train_model", counting)
    out = tmp_path / "r"
    # "Interrupted" after one run: the unpruned network, written when the plain phase
    # ended, which stops the training there; its state stays.
    table = rep.reproduce(out=out, max_runs=1, **SMALL)
    assert trainings == [True] and len(table) == 1
    first = runlog.read_runs(out / "runs.jsonl")
    assert [r["condition"] for r in first] == ["unpruned, dropout"]
    printed = capsys.readouterr().out
    assert "stopping after 1 new runs" in printed
    assert "line, dropout, seed 0: epoch 1/2" in printed
    assert [p.name for p in (out / "training").iterdir()] == ["line_dropout_seed0.pt"]

    table = rep.reproduce(out=out, **SMALL)
    # The pair with dropout goes on with its pruning phase alone, then the pair without.
    assert trainings == [True, True, True]
    printed = capsys.readouterr().out
    assert "1 of 4 runs already in" in printed
    assert "line, dropout, seed 0: epoch 1/2" not in printed
    assert "line, dropout, seed 0: epoch 2/2" in printed
    assert "line, plain, seed 0: epoch 1/2" in printed
    runs = runlog.read_runs(out / "runs.jsonl")
    assert len(runs) == 4
    assert runs[0] == first[0]  # the first run untouched (same finished_at, same numbers)
    assert len({(r["dataset"], r["condition"], r["seed"]) for r in runs}) == 4
    assert list(table["condition"]) == list(conditions.CONDITIONS)
    assert list((out / "training").iterdir()) == []

    rep.reproduce(out=out, **SMALL)  # all done: nothing trained, table rewritten
    assert len(trainings) == 3


def test_a_training_stopped_at_its_last_row_leaves_no_state(tmp_path):
    # max_runs reached by the pruned row: its network is saved, so the state is gone.
    out = tmp_path / "r"
    rep.reproduce(out=out, max_runs=2, **SMALL)
    assert len(runlog.read_runs(out / "runs.jsonl")) == 2
    assert list((out / "training").iterdir()) == []


def test_one_training_gives_the_unpruned_and_the_pruned_network(tmp_path, monkeypatch):
    # As in the authors' pipeline: the unpruned network is the plain phase of the pruned
    # run, so it trains `epochs`, not 2 * epochs, and equals a plain training of `epochs`.
    trainings = []
    real = one_run._train_model

    def counting(model, data, **kw):
        trainings.append(kw["prune"])
        return real(model, data, **kw)

    monkeypatch.setattr(one_run, "_train_model", counting)
    small = {**SMALL, "epochs": 2, "progress": False}
    rep.reproduce(out=tmp_path / "pair", **small)
    assert trainings == [True, True]  # one per dropout rate, for two conditions each
    runs = {r["condition"]: r for r in runlog.read_runs(tmp_path / "pair" / "runs.jsonl")}
    assert [runs[c]["trained_epochs"] for c in conditions.CONDITIONS] == [4, 4, 2, 2]
    for cond, (pruned, _) in conditions.CONDITIONS.items():
        assert math.isclose(runs[cond]["sparsity"], 0.9, abs_tol=1e-3) == pruned
        assert runs[cond]["unpruned_from"] == conditions.UNPRUNED_FROM

    # The unpruned runs alone (a resume that lacks them): a plain training of `epochs`.
    only = tmp_path / "only"
    only.mkdir()
    kept = [r for c, r in runs.items() if c.startswith("pruned")]
    (only / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in kept))
    rep.reproduce(out=only, **small)
    assert trainings == [True, True, False, False]
    alone = {r["condition"]: r for r in runlog.read_runs(only / "runs.jsonl")}
    for cond in ("unpruned, dropout", "unpruned"):
        for key in ("test_accuracy", "train_accuracy", "modcore_ncut", "authors_layer_ncuts"):
            assert alone[cond][key] == runs[cond][key], (cond, key)


def test_runs_with_separately_trained_unpruned_networks_are_not_mixed_in(tmp_path):
    out = tmp_path / "r"
    rep.reproduce(out=out, max_runs=1, **SMALL)
    path = out / "runs.jsonl"
    (run,) = runlog.read_runs(path)
    del run["unpruned_from"]  # as written before the pipeline followed the authors'
    del run["trained_epochs"]
    path.write_text(json.dumps(run) + "\n")
    with pytest.raises(ValueError, match="a separate training of 2 \\* epochs"):
        rep.reproduce(out=out, **SMALL)


class Crash(BaseException):
    """The process dying in the middle of writing a run."""


def test_a_run_cut_short_while_written_is_removed_and_redone(tmp_path, monkeypatch):
    files = sys.modules["modcore.common.result_log"]
    real = files.ResultLog.append

    class HalfWriter:
        def __init__(self, f):
            self.f = f

        def write(self, data):
            self.f.write(data[:40])
            self.f.flush()
            raise Crash

        def __getattr__(self, name):
            return getattr(self.f, name)

    def append(self, row):
        if self.path.stat().st_size > 0:  # the second run
            self._file = HalfWriter(self._file)
        real(self, row)

    out = tmp_path / "r"
    monkeypatch.setattr(files.ResultLog, "append", append)
    with pytest.raises(Crash):
        rep.reproduce(out=out, max_runs=2, **SMALL)
    monkeypatch.undo()
    path = out / "runs.jsonl"
    first = path.read_bytes()[: path.read_bytes().index(b"\n") + 1]
    assert len(path.read_bytes()) == len(first) + 40
    assert len(runlog.read_runs(path)) == 1  # reading leaves the cut-short run out ...
    assert len(path.read_bytes()) == len(first) + 40  # ... and the file as it is
    rep.reproduce(out=out, max_runs=1, **SMALL)  # removes it and does the second run again
    runs = runlog.read_runs(path)
    assert [(r["condition"], r["seed"]) for r in runs] == [
        ("unpruned, dropout", 0),
        ("pruned, dropout", 0),
    ]
    lines = path.read_bytes().splitlines(keepends=True)
    assert len(lines) == 2 and lines[0] == first


def test_a_line_modcore_did_not_write_is_refused(tmp_path):
    out = tmp_path / "r"
    rep.reproduce(out=out, max_runs=1, **SMALL)
    path = out / "runs.jsonl"
    with open(path, "a") as f:
        f.write("seed 1 looked odd, rerun\n")
    before = path.read_bytes()
    with pytest.raises(ValueError, match="line 2: not a modcore reproduce runs row"):
        rep.reproduce(out=out, **SMALL)
    assert path.read_bytes() == before


def test_settings_are_every_parameter_that_changes_a_run():
    # reproduce()'s parameters that do not change a run's numbers: which runs to do
    # (datasets, seeds, max_runs), where, how fast and how loud; quick only changes
    # defaults of settings, which are then recorded.
    other = {
        "datasets",
        "seeds",
        "out",
        "quick",
        "data_dir",
        "n_jobs",
        "max_runs",
        "progress",
        "command",
        "device",
        "settings",  # its fields are the settings
        "conditions",  # which runs; each run records its training's values (TRAININGS)
    }
    params = set(inspect.signature(rep.reproduce).parameters)
    assert params - other == set(conditions.SETTINGS)


CHANGED = {
    "arch": "cnn",
    "epochs": 2,
    "n_shuffles": 4,
    "n_clusters": 3,
    "n_init": 3,
    "max_iter": 50,
    "tol": 1e-4,
    "eigen_method": "dense",
    "drop": "unreachable",
    "normalize": "rescale",
    "n_train": 150,
    "n_test": 90,
    "hidden": (16, 8),
}


def test_runs_made_with_any_other_setting_are_not_mixed_in(tmp_path):
    assert set(CHANGED) == set(conditions.SETTINGS)  # a new setting needs a case here
    out = tmp_path / "r"
    rep.reproduce(out=out, max_runs=1, **SMALL)
    for key, value in CHANGED.items():
        with pytest.raises(ValueError, match=f"other settings .*{key}"):
            rep.reproduce(out=out, **{**SMALL, key: value})
    # Runs written when one label rule was kept (no "rules") are not mixed in either.
    path = out / "runs.jsonl"
    run = json.loads(path.read_text())
    del run["rules"]
    path.write_text(json.dumps(run) + "\n")
    with pytest.raises(ValueError, match=r"other settings .*one rule"):
        rep.reproduce(out=out, **SMALL)


@pytest.mark.parametrize("as_object", [False, True], ids=["keywords", "settings"])
def test_every_recorded_solver_setting_is_the_one_used(tmp_path, monkeypatch, as_object):
    # A run records its settings; the clusterings must have used exactly those (the
    # reproduction once passed only five of them on, and recorded the others), under
    # each label rule in turn.
    import modcore.method.cluster
    import modcore.method.settings
    import modcore.method.significance

    seen = []
    for module, name in (
        (modcore.method.significance, "ncut_significance"),
        (modcore.method.cluster, "spectral_cluster"),
    ):
        real = getattr(module, name)

        def spy(network, real=real, **kw):
            seen.append(kw)
            return real(network, **kw)

        monkeypatch.setattr(module, name, spy)
    names = ("n_init", "max_iter", "tol", "eigen_method", "drop", "normalize")
    solver = {k: CHANGED[k] for k in names}
    if as_object:  # the same through settings=ClusterSettings(...)
        small = {k: v for k, v in SMALL.items() if k not in ("n_clusters", "n_init")}
        given = modcore.method.settings.ClusterSettings(n_clusters=SMALL["n_clusters"], **solver)
        rep.reproduce(out=tmp_path / "r", max_runs=1, settings=given, **small)
    else:
        rep.reproduce(out=tmp_path / "r", max_runs=1, **{**SMALL, **solver})
    (run,) = runlog.read_runs(tmp_path / "r" / "runs.jsonl")
    # Per rule: the nulls, and the network at initialization.
    assert len(seen) == len(conditions.RULES) * (len(conditions.NULLS) + 1)
    per_rule = len(conditions.NULLS) + 1
    for i, (rule, (_, labels)) in enumerate(conditions.RULES.items()):
        for kw in seen[i * per_rule : (i + 1) * per_rule]:
            assert {key: kw[key] for key in solver} == solver
            assert {key: kw[key] for key in labels} == labels
            assert {key: kw[key] for key in run["rules"][rule]} == run["rules"][rule]
    settings = {f.name for f in dataclasses.fields(modcore.method.settings.ClusterSettings)}
    assert settings - {"assign_labels", "refine", "select_by"} <= set(conditions.SETTINGS)
    assert conditions.RULES["authors"][1] == {
        "assign_labels": "kmeans",
        "refine": False,
        "select_by": "inertia",
    }


def run_of(dataset, condition, seed, **values):
    """A run row with every measure the table aggregates, under both rules; unnamed
    measures are 0 (p-values 1)."""
    row = {"dataset": dataset, "condition": condition, "seed": seed, "test_accuracy": 0.0}
    for rule in conditions.RULES:
        row.update({f"{rule}_ncut": 0.0, f"{rule}_random_init_ncut": 0.0})
        for null in conditions.NULLS:
            for what, value in (("mean", 0.0), ("std", 0.0), ("z", 0.0), ("p", 1.0)):
                row[f"{rule}_{null}_{what}"] = value
    row.update(values)
    return row


def test_aggregate_of_a_small_run_log_by_hand():
    runs = [
        run_of("line", "unpruned", 0, modcore_ncut=5.0, modcore_layer_p=0.01),
        run_of(
            "line",
            "pruned",
            0,
            modcore_ncut=1.0,
            modcore_layer_z=-1.0,
            modcore_layer_p=0.01,
            test_accuracy=0.5,
            authors_ncut=7.0,
        ),
        run_of(
            "line",
            "pruned",
            1,
            modcore_ncut=2.0,
            modcore_layer_z=-2.0,
            modcore_layer_p=0.20,
            test_accuracy=0.7,
            authors_ncut=8.0,
            authors_layer_p=0.04,
        ),
        run_of(
            "line",
            "pruned",
            2,
            modcore_ncut=3.0,
            modcore_layer_z=-6.0,
            modcore_layer_p=0.04,
            test_accuracy=0.9,
            modcore_layer_nonzero_mean=3.0,
            authors_ncut=9.0,
        ),
        run_of("mnist", "pruned", 0, modcore_ncut=4.0),
    ]
    table = tables.aggregate(runs)
    assert list(table.columns) == tables.table_columns()
    # Data sets in order of appearance, conditions in CONDITIONS order.
    assert list(zip(table["dataset"], table["condition"])) == [
        ("line", "pruned"),
        ("line", "unpruned"),
        ("mnist", "pruned"),
    ]
    pruned = table.iloc[0]
    assert pruned["seeds"] == 3
    assert pruned["modcore_ncut_mean"] == 2.0 and pruned["modcore_ncut_std"] == 1.0  # 1, 2, 3
    assert pruned["authors_ncut_mean"] == 8.0 and pruned["authors_ncut_std"] == 1.0  # 7, 8, 9
    # z: -1, -2, -6: mean -3; deviations 2, 1, -3; sum of squares 14; ddof 1: sqrt(7).
    assert pruned["modcore_layer_z_mean"] == -3.0
    assert pruned["modcore_layer_z_std"] == pytest.approx(math.sqrt(7), rel=1e-15)
    assert pruned["modcore_layer_significant"] == pytest.approx(2 / 3)  # p 0.01, 0.04 < 0.05
    assert pruned["authors_layer_significant"] == pytest.approx(1 / 3)  # p 0.04 only
    assert pruned["test_accuracy_mean"] == pytest.approx(0.7)
    assert pruned["test_accuracy_std"] == pytest.approx(0.2)
    assert pruned["modcore_layer_nonzero_shuffled_mean_mean"] == 1.0
    assert pruned["modcore_layer_nonzero_significant"] == 0.0
    unpruned = table.iloc[1]
    assert unpruned["seeds"] == 1 and unpruned["modcore_ncut_mean"] == 5.0
    assert math.isnan(unpruned["modcore_ncut_std"])  # one seed: no spread
    assert unpruned["modcore_layer_significant"] == 1.0
    assert table.iloc[2]["modcore_ncut_mean"] == 4.0

    parts = tables.to_markdown(table, seeds=3).split("\n\n")
    assert parts[0] == (
        "Partial: 3 seeds per condition asked for; seeds held: line: pruned, dropout 0, "
        "pruned 3, unpruned, dropout 0, unpruned 1; mnist: pruned, dropout 0, pruned 1, "
        "unpruned, dropout 0, unpruned 0."
    )
    authors, modcore_rule = (part.splitlines() for part in parts[1:])
    assert authors[0].startswith("#### authors: the authors' rule: k-means")
    assert modcore_rule[0].startswith("#### modcore: modcore's default rule: cluster_qr")
    assert len(modcore_rule) == 3 + 3
    assert modcore_rule[3].startswith(
        "| line | pruned | 3 | 0.7000 ± 0.2000 | 2.000 ± 1.000 | 0.000 ± 0.000 | "
        "0.000 ± 0.000 | 0.000 ± 0.000 | -3.00 ± 2.65 | 2/3 |"
    )
    assert modcore_rule[4].startswith("| line | unpruned | 1 | 0.0000 | 5.000 | 0.000 | ")
    assert authors[3].startswith("| line | pruned | 3 | 0.7000 ± 0.2000 | 8.000 ± 1.000 | ")
    full = tables.aggregate([run_of("line", c, s) for c in conditions.CONDITIONS for s in range(2)])
    assert "Partial" not in tables.to_markdown(full, seeds=2)
    assert "Partial" in tables.to_markdown(full, seeds=3)


def test_runs_of_one_rule_are_shown_under_it_and_the_other_rule_not_computed():
    # Rows written when the reproduction kept one rule (results/ of 2026-11): "ncut",
    # "layer_z", ... unprefixed, named by the rule they record.
    old = {"assign_labels": "cluster_qr", "refine": True, "ncut": 2.0, "random_init_ncut": 3.0}
    for null in conditions.NULLS:
        old.update({f"{null}_{w}": 0.5 for w in ("mean", "std", "z")})
        old.update({f"{null}_p": 0.01, f"{null}_ncuts": [0.5]})
    runs = [{"dataset": "line", "condition": "pruned", "seed": 0, "test_accuracy": 0.9, **old}]
    table = tables.aggregate(runs)
    assert table.iloc[0]["modcore_ncut_mean"] == 2.0
    assert math.isnan(table.iloc[0]["authors_ncut_mean"])
    assert math.isnan(table.iloc[0]["authors_layer_significant"])
    authors = tables.to_markdown(table).split("\n\n")[0].splitlines()
    assert (
        authors[3] == "| line | pruned | 1 | 0.9000 | " + " | ".join(["not computed"] * 10) + " |"
    )
    with pytest.raises(ValueError, match="not one of the reproduction's label rules"):
        tables.aggregate([{**runs[0], "assign_labels": "kmeans", "refine": False}])


def test_missing_dataset_is_skipped_with_reason(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MODCORE_DATA", str(tmp_path / "empty"))
    table = rep.reproduce(
        out=tmp_path / "r",
        max_runs=1,
        data_dir=tmp_path / "empty",
        **{**SMALL, "datasets": ["mnist", "line"]},
    )
    printed = capsys.readouterr().out
    assert "skipping mnist: MNIST not found" in printed
    assert "data_dir=" in printed and "--data-dir" not in printed  # the Python spelling
    assert set(table["dataset"]) == {"line"}
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert "mnist" in summary["skipped"] and not summary["complete"]
    # Run as the command (which passes its command line), the reason names --data-dir.
    rep.reproduce(
        out=tmp_path / "r",
        data_dir=tmp_path / "empty",
        command="modcore reproduce",
        **{**SMALL, "datasets": ["mnist", "line"]},
    )
    printed = capsys.readouterr().out
    assert "skipping mnist:" in printed and "--data-dir DIR" in printed
    assert "data_dir=" not in printed


@pytest.mark.parametrize(
    "args, message",
    [
        (["--datasets", "imagenet"], "unknown data set 'imagenet'"),
        (["--seeds", "0"], "argument --seeds: expected an integer >= 1, got 0"),
        (
            ["--n-shuffles", "-1"],
            "argument --n-shuffles: expected an integer in [1, 10000000], got -1",
        ),
        (["--shuffles", "0"], "argument --shuffles: expected an integer in [1, 10000000], got 0"),
        (
            ["--n-clusters", "1"],
            "argument --n-clusters: expected an integer in [2, 2147483647], got 1",
        ),
        (["--datasets", "mnist,cifar10"], "none of the data sets is available"),
        (["--lesions", "--datasets", "mnist"], "none of the data sets is available"),
        (["--datasets", ","], "--datasets is empty"),
    ],
)
def test_cli_errors_are_one_line_exit_2_and_create_nothing(tmp_path, args, message):
    empty = tmp_path / "empty"
    proc = run_cli(
        "reproduce",
        "--quick",
        "--out",
        tmp_path / "r",
        "--data-dir",
        empty,
        *args,
        env={"MODCORE_DATA": str(empty)},
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()  # no empty run log left behind


def test_committed_results_match_their_run_log():
    # results/ holds the full reproduction quoted in the README: its files must not have
    # been edited by hand, i.e. its table is the aggregate of its own run log (aggregate
    # itself is checked by hand above), and the run log is complete (2 data sets x 4 x 5).
    results = os.path.join(os.path.dirname(__file__), os.pardir, "results")
    runs = runlog.read_runs(os.path.join(results, "runs.jsonl"))
    assert len(runs) == 40
    assert {(r["dataset"], r["condition"], r["seed"]) for r in runs} == {
        (d, c, s) for d in ("fashion", "line") for c in conditions.CONDITIONS for s in range(5)
    }
    table = tables.aggregate(runs)  # both rules, every run
    assert table["authors_ncut_mean"].notna().all() and table["modcore_ncut_mean"].notna().all()
    committed = pd.read_csv(os.path.join(results, "table.csv"))
    pd.testing.assert_frame_equal(committed, table, check_dtype=False)
    with open(os.path.join(results, "table.md")) as f:
        assert f.read() == tables.to_markdown(table) + "\n"
    with open(os.path.join(results, "summary.json")) as f:
        summary = json.load(f)
    assert summary["complete"] and summary["runs"] == 40


def test_cnn_runs_cluster_the_conv_channels(tmp_path):
    from modcore.nn import CNN, checkpoint

    cnn = dict(SMALL, arch="cnn", hidden=None, n_train=128, n_test=64)
    out = tmp_path / "cnn"
    table = rep.reproduce(out=out, max_runs=2, **cnn)
    runs = runlog.read_runs(out / "runs.jsonl")
    assert [r["arch"] for r in runs] == ["cnn", "cnn"] and len(table) == 2
    assert all(r["hidden"] is None for r in runs)
    model = checkpoint.load(out / runs[0]["checkpoint"]).model
    assert isinstance(model, CNN)
    # The run's n-cut is that of the conv channels (3 x 64 units, the 2021 preset).
    net = modcore.Network.from_torch(model, input_shape=(1, 28, 28), preset="paper_cnn")
    assert net.sizes == (64, 64, 64)
    for rule, (_, labels) in conditions.RULES.items():
        again = modcore.spectral_cluster(
            net, n_clusters=4, n_init=2, seed=runs[0]["seed"], n_jobs=1, **labels
        )
        assert again.ncut == pytest.approx(runs[0][f"{rule}_ncut"], rel=1e-12)
    # An MLP reproduction cannot resume into the CNN's runs.
    with pytest.raises(ValueError, match="other settings"):
        rep.reproduce(out=out, **SMALL)
