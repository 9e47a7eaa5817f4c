"""modcore.sweep run locally: rows, inputs, the resume key, the results file, optional imports."""

import dataclasses
import inspect
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import modcore
from modcore.network.synthetic import random_pruned_mlp
from solver_cases import IDS, REACH

sweep_module = sys.modules["modcore.experiments.sweep"]  # modcore.sweep is the function

OPTS = dict(n_clusters=3, n_shuffles=8, seed=2, progress=False)
# Non-default solver settings that change the shuffled n-cuts of these nets: one
# Lloyd step, and a loose tolerance for the Lanczos solver ("full"), which "dense"
# ignores.
ROUGH = dict(max_iter=1, tol=0.5, eigen_method="full")


@pytest.fixture
def pd():
    return pytest.importorskip("pandas")


@pytest.fixture(scope="module")
def nets():
    return {f"net{i}": random_pruned_mlp((24, 20, 16, 8), sparsity=0.6, seed=i) for i in range(3)}


@pytest.fixture
def calls(monkeypatch):
    """The (network id, settings) of every ncut_significance call the sweep makes."""
    seen = []
    real = sweep_module.ncut_significance

    def counting(weights, **kw):
        seen.append(kw)
        return real(weights, **kw)

    monkeypatch.setattr(sweep_module, "ncut_significance", counting)
    return seen


def without_seconds(df):
    return df.drop(columns="seconds")


def test_import_needs_neither_dask_nor_pandas():
    code = textwrap.dedent("""
        import sys
        import modcore, modcore.method.distributed, modcore.experiments.sweep
        loaded = [m for m in ("dask", "distributed", "pandas") if m in sys.modules]
        assert not loaded, f"import modcore loaded {loaded}"

        for name in ("dask", "distributed", "pandas"):
            sys.modules[name] = None  # any import of them now fails
        from modcore.network.synthetic import random_pruned_mlp
        w = random_pruned_mlp((20, 20, 10), sparsity=0.5)
        sig = modcore.ncut_significance(w, n_clusters=3, n_shuffles=5, seed=0, progress=False)
        print(sig.n_shuffles)
        for call in (lambda: modcore.sweep({"a": w}, n_clusters=3, n_shuffles=5),
                     lambda: modcore.ncut_significance(w, n_clusters=3, n_shuffles=5, client=1)):
            try:
                call()
            except ImportError as exc:
                print(exc)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "5"
    assert "pandas DataFrame: pip install 'modcore[dask]'" in lines[1]
    assert "needs dask.distributed: pip install 'modcore[dask]'" in lines[2]


@pytest.mark.parametrize("settings", [{}, ROUGH], ids=["defaults", "rough"])
def test_rows_are_ncut_significance(pd, nets, settings):
    table = modcore.sweep(nets, shuffle=["layer", "layer_nonzero"], **OPTS, **settings)
    assert list(table.columns) == list(sweep_module.COLUMNS)
    assert list(zip(table["name"], table["shuffle"])) == [
        (n, s) for n in nets for s in ("layer", "layer_nonzero")
    ]
    for row in table.itertuples():
        sig = modcore.ncut_significance(nets[row.name], shuffle=row.shuffle, **OPTS, **settings)
        for field in (
            "ncut",
            "shuffled_mean",
            "shuffled_std",
            "z_score",
            "p_value",
            "percentile",
            "n_shuffles",
            "n_clusters",
            "n_init",
            "seed",
        ):
            assert getattr(row, field) == getattr(sig, field), field
        assert row.layer_sizes == "24-20-16-8"
    expected = {
        "max_iter": 300,
        "tol": 1e-5,
        "eigen_method": "auto",
        "assign_labels": "cluster_qr",
        "refine": True,
        "select_by": "inertia",
        **settings,
    }
    for key, value in expected.items():
        assert set(table[key]) == {value}, key


@pytest.mark.parametrize("name, changed, baseline", REACH, ids=IDS)
def test_each_solver_setting_reaches_the_rows(pd, nets, name, changed, baseline):
    one = {"net0": nets["net0"]}
    a = modcore.sweep(one, **OPTS, **changed)
    b = modcore.sweep(one, **OPTS, **baseline)
    assert a["shuffled_mean"][0] != b["shuffled_mean"][0]


def test_settings_are_every_parameter_that_changes_a_result():
    # ncut_significance's parameters that cannot change its numbers (shuffle is in the
    # key itself; input_shape says how to read a torch module, which the network's name
    # stands for); every other one must be part of the resume key, or rows made with
    # another value would be reused.
    # settings= brings the fields that are keywords too (each one in the key).
    # view, like input_shape, says how to read a model: "virtual" gives a transformer's one
    # network (without a view a transformer is refused), "blocks" rows of other names.
    no_effect = {"shuffle", "n_jobs", "progress", "client", "input_shape", "settings", "view"}
    # The sweep runs fixed-size nulls: it does not offer the sequential test's stop_after.
    not_offered = {"stop_after"}
    assert not_offered.isdisjoint(inspect.signature(modcore.sweep).parameters)
    no_effect |= not_offered
    params = list(inspect.signature(modcore.ncut_significance).parameters)[1:]
    assert set(params) - no_effect == set(sweep_module.SETTINGS)
    assert set(sweep_module.SETTINGS) <= set(sweep_module.FILE_COLUMNS)
    assert set(sweep_module.SETTINGS) <= set(inspect.signature(modcore.sweep).parameters)


def test_inputs_directory_sequence_names(pd, nets, tmp_path):
    for name in ("net10", "net2", "net1"):
        np.savez(tmp_path / f"{name}.npz", *nets[f"net{int(name[3:]) % 3}"])
    (tmp_path / "notes.txt").write_text("not weights")
    table = modcore.sweep(tmp_path, **OPTS)
    assert list(table["name"]) == ["net1.npz", "net2.npz", "net10.npz"]
    assert table["ncut"].iloc[0] == modcore.ncut_significance(nets["net1"], **OPTS).ncut

    mixed = modcore.sweep([tmp_path / "net1.npz", nets["net0"]], **OPTS)
    assert list(mixed["name"]) == [str(tmp_path / "net1.npz"), "network1"]
    named = modcore.sweep([nets["net0"], nets["net1"]], names=["a", "b"], **OPTS)
    assert list(named["name"]) == ["a", "b"]

    with pytest.raises(ValueError, match="unique"):
        modcore.sweep([nets["net0"], nets["net1"]], names=["a", "a"], **OPTS)
    with pytest.raises(TypeError, match="for one network pass"):
        modcore.sweep(nets["net0"], **OPTS)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no weight files"):
        modcore.sweep(tmp_path / "empty", **OPTS)
    (tmp_path / "bad.npz").write_text("garbage")
    with pytest.raises(ValueError, match=r"network 'bad\.npz'"):
        modcore.sweep(tmp_path, **OPTS)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_resume_skips_networks_in_the_results_file(pd, nets, tmp_path, calls, suffix):
    path = tmp_path / f"results{suffix}"
    first = modcore.sweep({k: nets[k] for k in ["net0", "net1"]}, results_path=path, **OPTS)
    calls.clear()
    table = modcore.sweep(nets, results_path=path, **OPTS)
    assert len(calls) == 1  # only net2 ran
    assert list(table["name"]) == ["net0", "net1", "net2"]
    # Rows from the file come back exactly as computed, seconds included (the
    # adjusted p-values are over the table's rows: test_adjusted_p_values_...).
    assert table.iloc[:2].drop(columns="p_value_bh").equals(first.drop(columns="p_value_bh"))
    fresh = modcore.sweep(nets, **OPTS)
    assert without_seconds(table).equals(without_seconds(fresh))

    # Everything done: nothing runs, the file is unchanged.
    before = path.read_bytes()
    calls.clear()
    again = modcore.sweep(nets, results_path=path, **OPTS)
    assert calls == [] and path.read_bytes() == before
    assert again.equals(table)


# p-values per (shuffle method, size of the last layer) for test_adjusted_p_values_...:
# BH over each method's three rows, by hand. "layer": sorted 0.001, 0.035, 0.04 times
# 3 / rank = 0.003, 0.0525, 0.04, running minimum from the top 0.003, 0.04, 0.04.
# "layer_nonzero": 0.012, 0.2, 0.6 give 0.036, 0.3, 0.6. Pooled over six rows the
# values would differ (0.001 -> 0.006).
FIXED_P = {
    ("layer", 8): 0.04,
    ("layer", 9): 0.001,
    ("layer", 10): 0.035,
    ("layer_nonzero", 8): 0.2,
    ("layer_nonzero", 9): 0.012,
    ("layer_nonzero", 10): 0.6,
}
BH_BY_HAND = {
    "layer": [0.04, 0.003, 0.04],
    "layer_nonzero": [0.3, 0.036, 0.6],
}
# BH over the first two networks alone: "layer" 0.001, 0.04 -> 0.002, 0.04;
# "layer_nonzero" 0.012, 0.2 -> 0.024, 0.2.
BH_OF_TWO_BY_HAND = {"layer": [0.04, 0.002], "layer_nonzero": [0.2, 0.024]}


@pytest.fixture
def fixed_p(monkeypatch):
    """Rows get the p-values of FIXED_P, so the adjustment is checked on known numbers;
    the networks are told apart by the size of their last layer (8, 9, 10)."""
    real = sweep_module.ncut_significance

    def fixed(net, **kw):
        sig = real(net, **kw)
        return dataclasses.replace(sig, p_value=FIXED_P[sig.shuffle, net.sizes[-1]])

    monkeypatch.setattr(sweep_module, "ncut_significance", fixed)
    return {
        f"net{i}": random_pruned_mlp((24, 20, 16, 8 + i), sparsity=0.6, seed=i) for i in range(3)
    }


def by_hand(table, expected):
    for shuffle, values in expected.items():
        got = table.loc[table["shuffle"] == shuffle, "p_value_bh"].to_numpy()
        np.testing.assert_allclose(got, values, rtol=1e-12, err_msg=shuffle)


def test_adjusted_p_values_are_benjamini_hochberg_per_shuffle_method(pd, fixed_p):
    table = modcore.sweep(fixed_p, shuffle=["layer", "layer_nonzero"], **OPTS)
    shuffles = ("layer", "layer_nonzero")
    assert list(table["p_value"]) == [FIXED_P[s, 8 + i] for i in range(3) for s in shuffles]
    by_hand(table, BH_BY_HAND)
    stats = pytest.importorskip("scipy.stats")
    if hasattr(stats, "false_discovery_control"):
        for _, family in table.groupby("shuffle"):
            np.testing.assert_allclose(
                family["p_value_bh"], stats.false_discovery_control(family["p_value"]), rtol=1e-12
            )


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_adjusted_p_values_of_a_resumed_sweep_are_over_all_its_rows(pd, fixed_p, tmp_path, suffix):
    path = tmp_path / f"results{suffix}"
    shuffles = ["layer", "layer_nonzero"]
    two = {k: fixed_p[k] for k in ["net0", "net1"]}
    by_hand(modcore.sweep(two, shuffle=shuffles, results_path=path, **OPTS), BH_OF_TWO_BY_HAND)
    table = modcore.sweep(fixed_p, shuffle=shuffles, results_path=path, **OPTS)
    by_hand(table, BH_BY_HAND)  # the two rows from the file are adjusted anew, over three
    rows = pd.read_csv(path) if suffix == ".csv" else pd.read_json(path, lines=True)
    # The file holds no value that a new row would change.
    assert len(rows) == 6 and list(rows.columns) == list(sweep_module.FILE_COLUMNS)
    assert "p_value_bh" not in path.read_text()


CHANGED = {
    "n_shuffles": 5,
    "n_clusters": 4,
    "n_init": 3,
    "max_iter": 7,
    "tol": 1e-3,
    "eigen_method": "dense",
    "assign_labels": "kmeans",
    "refine": False,
    "select_by": "ncut",
    "drop": "unreachable",
    "normalize": "rescale",
    "seed": 3,
}


def test_changing_any_setting_recomputes_and_keeps_the_other_rows(pd, nets, tmp_path, calls):
    assert set(CHANGED) == set(sweep_module.SETTINGS)  # a new setting needs a case here
    two = {k: nets[k] for k in ["net0", "net1"]}
    path = tmp_path / "results.csv"
    base = modcore.sweep(two, results_path=path, **OPTS)
    for key, value in CHANGED.items():
        calls.clear()
        table = modcore.sweep(two, results_path=path, **{**OPTS, key: value})
        assert [c[key] for c in calls] == [value, value], key  # both recomputed
        assert set(table[key]) == {value}
    calls.clear()
    again = modcore.sweep(two, results_path=path, **OPTS)  # the first settings: all reused
    assert calls == [] and again.equals(base)
    assert len(pd.read_csv(path)) == 2 * (1 + len(CHANGED))  # nothing overwritten


def test_the_default_seed_is_fresh_recorded_and_resumed(pd, nets, tmp_path, calls):
    two = {k: nets[k] for k in ["net0", "net1"]}
    opts = {**OPTS, "seed": None}
    path = tmp_path / "results.jsonl"
    first = modcore.sweep({"net0": nets["net0"]}, results_path=path, **opts)
    seed = int(first["seed"][0])
    assert (
        first["ncut"][0] == modcore.ncut_significance(nets["net0"], **{**OPTS, "seed": seed}).ncut
    )
    calls.clear()
    table = modcore.sweep(two, results_path=path, **opts)  # resumes with the file's seed
    assert [c["seed"] for c in calls] == [seed] and set(table["seed"]) == {seed}
    seeds = {int(modcore.sweep(two, **opts)["seed"][0]) for _ in range(2)}
    assert len(seeds) == 2 and seed not in seeds  # no file: fresh entropy each time


class Crash(BaseException):
    """Stands for the process dying in the middle of a write."""


class HalfWriter:
    """A file whose next write stops half-way, as a killed process would."""

    def __init__(self, f):
        self.f = f

    def write(self, data):
        self.f.write(data[: len(data) // 2])
        self.f.flush()
        raise Crash

    def __getattr__(self, name):
        return getattr(self.f, name)


def crash_on_append(monkeypatch, number):
    files = sys.modules["modcore.common.result_log"]
    real, count = files.ResultLog.append, [0]

    def append(self, row):
        count[0] += 1
        if count[0] == number:
            self._file = HalfWriter(self._file)
        real(self, row)

    monkeypatch.setattr(files.ResultLog, "append", append)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_a_row_cut_short_by_a_crash_is_redone(pd, nets, tmp_path, monkeypatch, suffix):
    path = tmp_path / f"results{suffix}"
    full = modcore.sweep(nets, **OPTS)
    crash_on_append(monkeypatch, 3)
    with pytest.raises(Crash):
        modcore.sweep(nets, results_path=path, **OPTS)
    monkeypatch.undo()
    cut = path.read_bytes()
    assert not cut.endswith(b"\n")  # half a row at the end
    table = modcore.sweep(nets, results_path=path, **OPTS)
    assert without_seconds(table).equals(without_seconds(full))
    assert path.read_bytes().startswith(cut[: cut.rindex(b"\n") + 1])  # rows 1-2 untouched
    assert not path.with_name(path.name + ".writing").exists()


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
@pytest.mark.parametrize("note", ["checked by Ann, fine\n", "checked by Ann"])
def test_a_line_modcore_did_not_write_is_refused_and_kept(pd, nets, tmp_path, calls, suffix, note):
    path = tmp_path / f"results{suffix}"
    modcore.sweep({"net0": nets["net0"]}, results_path=path, **OPTS)
    with open(path, "a") as f:
        f.write(note)
    before = path.read_bytes()
    calls.clear()
    match = (
        "incomplete and modcore was not writing it"
        if not note.endswith("\n")
        else "line 3: not a modcore sweep results row"
        if suffix == ".csv"
        else "line 2: not a modcore sweep results row"
    )
    with pytest.raises(ValueError, match=match):
        modcore.sweep(nets, results_path=path, **OPTS)
    assert calls == [] and path.read_bytes() == before


NAMES = [
    "new\nline",
    "line\u2028separator",
    "form\x0cfeed",
    'comma, "quotes"',
    "carriage\rreturn",
    "tab\tand ünïcödé",
    "1.5",
]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_any_name_round_trips_through_the_results_file(pd, nets, tmp_path, calls, suffix):
    networks = {name: nets[f"net{i % 3}"] for i, name in enumerate(NAMES)}
    path = tmp_path / f"results{suffix}"
    first = modcore.sweep(networks, results_path=path, **{**OPTS, "n_shuffles": 3})
    calls.clear()
    again = modcore.sweep(networks, results_path=path, **{**OPTS, "n_shuffles": 3})
    assert calls == [] and again.equals(first) and list(again["name"]) == NAMES
    if suffix == ".csv":
        assert list(pd.read_csv(path)["name"]) == NAMES  # other CSV readers agree


def test_a_file_name_that_is_not_utf8_is_refused_before_any_work(pd, nets, tmp_path, calls):
    folder = os.fsencode(tmp_path)
    for name in (b"good.npz", b"caf\xe9.npz"):  # Latin-1, not UTF-8
        with open(os.path.join(folder, name), "wb") as f:
            np.savez(f, *nets["net0"])
    with pytest.raises(ValueError, match=r"caf\\udce9.npz.*not valid text.*rename"):
        modcore.sweep(tmp_path, results_path=tmp_path / "results.csv", **OPTS)
    assert calls == []


def test_a_second_sweep_on_the_same_file_waits_and_skips_what_the_first_wrote(
    pd, nets, tmp_path, calls, monkeypatch, capsys
):
    path = tmp_path / "results.csv"
    done = modcore.sweep({"net0": nets["net0"]}, **OPTS).iloc[0].drop("p_value_bh").to_dict()
    calls.clear()
    waiting = threading.Event()
    real_wait = sweep_module._say_waiting

    def say_waiting(p):
        real_wait(p)
        waiting.set()

    monkeypatch.setattr(sweep_module, "_say_waiting", say_waiting)
    # Another process's sweep: it holds the lock and has not yet written net0.
    other = sys.modules["modcore.common.result_log"].ResultLog(
        path, sweep_module._SCHEMA, columns=sweep_module.FILE_COLUMNS
    )
    other.__enter__()
    result = {}
    second = threading.Thread(
        target=lambda: result.update(table=modcore.sweep(nets, results_path=path, **OPTS))
    )
    try:
        second.start()
        assert waiting.wait(60), "the second sweep did not wait for the lock"
        assert calls == []  # nothing computed while the first holds the file
        other.append(done)
    finally:
        other.close()
    second.join(120)
    assert "another process is writing" in capsys.readouterr().err
    assert len(calls) == 2  # net1 and net2 only
    table = result["table"]
    assert list(table["name"]) == ["net0", "net1", "net2"]
    assert len(pd.read_csv(path)) == 3  # each network once


def test_results_files_that_are_not_sweep_results_are_refused(pd, nets, tmp_path):
    with pytest.raises(ValueError, match=r"\.csv or \.jsonl"):
        modcore.sweep(nets, results_path=tmp_path / "results.parquet", **OPTS)
    (tmp_path / "foreign.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a modcore sweep results file"):
        modcore.sweep(nets, results_path=tmp_path / "foreign.csv", **OPTS)


def test_a_file_of_no_readable_type_is_refused_before_any_work(tmp_path, capsys):
    # Found by the CLI fuzz target: `modcore sweep net.txt` drew its progress bar on stderr
    # before reading the file failed, so the failure was not one line.
    from modcore.cli.main import main as cli

    bad = tmp_path / "net.txt"
    bad.write_text("not a network")
    with pytest.raises(ValueError, match=r"unsupported weight file type '\.txt'"):
        modcore.sweep([bad], n_shuffles=3, progress=True)
    with pytest.raises(FileNotFoundError, match="no weight file or directory"):
        modcore.sweep([tmp_path / "missing.npz"], n_shuffles=3, progress=True)
    capsys.readouterr()
    assert cli(["sweep", str(bad), "--n-shuffles", "3"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "\r" not in err, err
    assert "unsupported weight file type" in err


def test_a_folder_sweeps_its_torch_export_programs_as_a_named_one_is(pd, nets, tmp_path):
    # A .pt2 named alone was swept, but a folder's listing skipped it without a word.
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(12, 10), torch.nn.ReLU(), torch.nn.Linear(10, 6), torch.nn.ReLU()
    ).eval()
    program = tmp_path / "model.pt2"
    torch.export.save(torch.export.export(model, (torch.randn(2, 12),)), program)
    np.savez(tmp_path / "net0.npz", *nets["net0"])
    table = modcore.sweep(tmp_path, **OPTS)
    assert list(table["name"]) == ["model.pt2", "net0.npz"]
    assert table["ncut"].iloc[0] == modcore.ncut_significance(program, **OPTS).ncut
