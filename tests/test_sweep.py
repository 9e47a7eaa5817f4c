"""modcore.sweep run locally: rows, inputs, the resumable results file, optional imports."""

import doctest
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import modcore
from modcore.synthetic import random_pruned_mlp

sweep_module = sys.modules["modcore.sweep"]  # modcore.sweep is the function

OPTS = dict(n_clusters=3, n_shuffles=8, seed=2, progress=False)


@pytest.fixture
def pd():
    return pytest.importorskip("pandas")


@pytest.fixture(scope="module")
def nets():
    return {f"net{i}": random_pruned_mlp((24, 20, 16, 8), sparsity=0.6, seed=i) for i in range(3)}


def without_seconds(df):
    return df.drop(columns="seconds")


def test_import_needs_neither_dask_nor_pandas():
    code = textwrap.dedent("""
        import sys
        import modcore, modcore.distributed, modcore.sweep
        loaded = [m for m in ("dask", "distributed", "pandas") if m in sys.modules]
        assert not loaded, f"import modcore loaded {loaded}"

        for name in ("dask", "distributed", "pandas"):
            sys.modules[name] = None  # any import of them now fails
        from modcore.synthetic import random_pruned_mlp
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


def test_rows_are_ncut_significance(pd, nets):
    table = modcore.sweep(nets, shuffle=["layer", "layer_nonzero"], **OPTS)
    assert list(table.columns) == list(sweep_module.COLUMNS)
    assert list(zip(table["name"], table["shuffle"])) == [
        (n, s) for n in nets for s in ("layer", "layer_nonzero")]
    for row in table.itertuples():
        sig = modcore.ncut_significance(nets[row.name], shuffle=row.shuffle, **OPTS)
        for field in ("ncut", "shuffled_mean", "shuffled_std", "z_score", "p_value",
                      "percentile", "n_shuffles", "n_clusters", "n_init", "seed"):
            assert getattr(row, field) == getattr(sig, field), field
        assert row.layer_sizes == "24-20-16-8"
        assert row.seconds >= 0


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
    with pytest.raises(ValueError, match="network 'bad.npz'"):
        modcore.sweep(tmp_path, **OPTS)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_resume_skips_networks_in_the_results_file(pd, nets, tmp_path, monkeypatch, suffix):
    path = tmp_path / f"results{suffix}"
    first = modcore.sweep({k: nets[k] for k in ["net0", "net1"]}, results_path=path, **OPTS)
    calls = []
    real = sweep_module.ncut_significance

    def counting(weights, **kw):
        calls.append(kw["shuffle"])
        return real(weights, **kw)

    monkeypatch.setattr(sweep_module, "ncut_significance", counting)
    table = modcore.sweep(nets, results_path=path, **OPTS)
    assert calls == ["layer"]  # only net2 ran
    assert list(table["name"]) == ["net0", "net1", "net2"]
    # Rows from the file come back exactly as computed, seconds included.
    assert table.iloc[:2].equals(first)
    monkeypatch.undo()
    fresh = modcore.sweep(nets, **OPTS)
    assert without_seconds(table).equals(without_seconds(fresh))

    # Everything done: nothing runs, the file is unchanged.
    before = path.read_text()
    monkeypatch.setattr(sweep_module, "ncut_significance", counting)
    again = modcore.sweep(nets, results_path=path, **OPTS)
    assert calls == ["layer"] and path.read_text() == before
    assert again.equals(table)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_a_last_line_cut_short_is_redone(pd, nets, tmp_path, suffix):
    path = tmp_path / f"results{suffix}"
    full = modcore.sweep(nets, results_path=path, **OPTS)
    text = path.read_text()
    path.write_text(text[:-25])  # a crash in the middle of writing the last row
    table = modcore.sweep(nets, results_path=path, **OPTS)
    assert without_seconds(table).equals(without_seconds(full))
    assert len(path.read_text().splitlines()) == len(text.splitlines())

    lines = path.read_text().splitlines(keepends=True)
    lines[-2] = lines[-2][:10] + "\n"  # damage that is not a cut-off tail
    path.write_text("".join(lines))
    with pytest.raises(ValueError, match="not a modcore sweep results row"):
        modcore.sweep(nets, results_path=path, **OPTS)


def test_results_file_with_other_settings_is_refused(pd, nets, tmp_path):
    path = tmp_path / "results.csv"
    modcore.sweep(nets, results_path=path, **OPTS)
    with pytest.raises(ValueError, match=r"n_shuffles=8 \(now 9\)"):
        modcore.sweep(nets, results_path=path, **{**OPTS, "n_shuffles": 9})
    # seed=None takes the file's seed, so an unfinished sweep can always resume.
    table = modcore.sweep(nets, results_path=path, **{**OPTS, "seed": None})
    assert set(table["seed"]) == {OPTS["seed"]}
    other = tmp_path / "results.parquet"
    with pytest.raises(ValueError, match=r"\.csv or \.jsonl"):
        modcore.sweep(nets, results_path=other, **OPTS)
    (tmp_path / "foreign.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a modcore sweep results file"):
        modcore.sweep(nets, results_path=tmp_path / "foreign.csv", **OPTS)


def test_docstring_example(pd):
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(sweep_module, optionflags=flags)
    assert result.attempted > 0 and result.failed == 0
