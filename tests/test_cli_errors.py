"""Every failure of the modcore command is one line on stderr and exit code 2,
found before the computation where it can be; degenerate nulls are printed."""

import json
import os
import pickle

import numpy as np
import pytest

from modcore.cli.main import main
from modcore.network.synthetic import random_pruned_mlp
from processes import run_python


@pytest.fixture
def npz(tmp_path):
    path = tmp_path / "net.npz"
    np.savez(path, *random_pruned_mlp((20, 20, 10), sparsity=0.5, seed=0))
    return path


def fails_in_one_line(capsys, argv, message):
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert message in err, err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["analyze", "{dir}"], "a directory"),
        (["analyze", "{net}", "--json", "{dir}"], "--json: {dir}: is a directory"),
        (["analyze", "{net}", "--json", "{file}/x.json"], "{file} is not a directory"),
        (["analyze", "{net}", "--json", "{file}/sub/x.json"], "{file}/sub does not exist"),
        (
            ["analyze", "{net}", "--report", "{file}"],
            "--report: {file}: exists and is not a directory",
        ),
        (["sweep", "{net}", "--out", "{dir}"], "--out: {dir}: is a directory"),
        (["sweep", "{net}", "--csv", "{dir}"], "--csv: {dir}: is a directory"),
        (
            ["sweep", "{net}", "--out", "{dir}/r.csv", "--csv", "{dir}/../adir/r.csv"],
            "--csv {dir}/../adir/r.csv is the --out results file: one would replace the other",
        ),
        (["analyze", "{net}", "--json", "{net}"], "--json {net} is the input {net}"),
        (["analyze", "{net}", "--json", "{link}"], "--json {link} is the input {net}"),
        (["analyze", "{net}", "--json", "/dev/null"], "--json: /dev/null: exists and is not a"),
        # /proc takes no new file even from root, whom permissions alone would let through
        (["train", "--out", "/proc/m.pt"], "--out: /proc/m.pt: cannot write in /proc"),
        (["analyze", "{net}", "--json", "{dir}", "--report", "{dir}"], "--json: {dir}: is a"),
        (
            ["sweep", "{net}", "--out", "{dir}/r.jsonl", "--json", "{dir}/r.jsonl"],
            "--json {dir}/r.jsonl is the --out results file",
        ),
        (
            ["sweep", "{net}", "--csv", "{dir}/t.csv", "--json", "{dir}/t.csv"],
            "--csv {dir}/t.csv is the --json file",
        ),
        (["analyze", "{net}", "--clusters", str(2**40)], "argument --clusters"),
        (["analyze", "{net}", "--n-clusters", "2:2147483647"], "ks has more than 10000"),
        (["analyze", "{net}", "--shuffles", str(10**12)], "argument --shuffles"),
        (["analyze", "{net}", "--seed", "-1"], "argument --seed"),
        (["analyze", "{net}", "--jobs", "0"], "argument --jobs"),
        (["analyze", "{net}", "--n-init", "many"], "expected an integer, got 'many'"),
        (["train", "--epochs", "0", "--out", "{dir}/t.pt"], "argument --epochs"),
        (["train", "--dropout", "2", "--out", "{dir}/t.pt"], "argument --dropout"),
        (["train", "--widths", "784,0,10", "--out", "{dir}/t.pt"], "argument --widths"),
        (["train", "--out", "{dir}"], "--out: {dir}: is a directory"),
        (
            ["train", "--dataset", "line", "--widths", "784,10,3", "--n-train", "50"]
            + ["--n-test", "50", "--out", "{dir}/t.pt"],
            "MLP has 3 outputs but the labels of 'line' go up to 9",
        ),
        (["lesion", "{net}", "--alpha", "0"], "argument --alpha"),
        (["lesion", "{net}", "--report", "{file}"], "exists and is not a directory"),
        (["reproduce", "--out", "{file}"], "exists and is not a directory"),
        (["demo", "--out", "{file}"], "exists and is not a directory"),
    ],
)
def test_failures_are_one_line_exit_2(capsys, tmp_path, npz, argv, message):
    names = {"dir": tmp_path / "adir", "file": tmp_path / "afile", "net": npz}
    names["dir"].mkdir()
    names["file"].write_text("not a directory")
    names["link"] = tmp_path / "link.npz"
    names["link"].symlink_to(npz)
    fill = lambda text: text.format(**names)  # noqa: E731
    fails_in_one_line(capsys, [fill(a) for a in argv], fill(message))


def test_refused_weight_files_are_one_line(capsys, tmp_path):
    torch = pytest.importorskip("torch")
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps({"0.weight": torch.nn.Linear(2, 2)}, protocol=4))
    fails_in_one_line(capsys, ["analyze", evil], "refused for safety")
    expanded = tmp_path / "expanded.pt"
    torch.save({"0.weight": torch.ones(5000).expand(5000, 5000)}, expanded)
    fails_in_one_line(capsys, ["analyze", expanded], "expanded view")


def test_outputs_are_checked_before_the_computation(tmp_path, npz):
    # 10**7 shuffles would run for hours: the refusal must come first. A FIFO as
    # input must be refused, not opened (which blocks until a writer comes).
    (tmp_path / "adir").mkdir()
    fifo = tmp_path / "x.npz"
    os.mkfifo(fifo)
    proc = run_python(
        f"""
        import sys
        from modcore.cli.main import main
        codes = [main(["analyze", {str(npz)!r}, "--shuffles", "10000000", "--quiet",
                       "--json", {str(tmp_path / "adir")!r}]),
                 main(["analyze", {str(fifo)!r}]),
                 main(["sweep", {str(fifo)!r}, {str(npz)!r}])]
        print(codes)
    """,
        timeout=60,
    )
    assert proc.stdout.strip() == "[2, 2, 2]", proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 3


def test_a_null_with_no_spread_is_printed_and_reported(capsys, tmp_path, npz):
    pytest.importorskip("matplotlib")
    # One shuffle: the null has no spread; its std and z are NaN.
    report = tmp_path / "report"
    out = tmp_path / "r.json"
    code = main(
        [
            "analyze",
            npz,
            "--clusters",
            3,
            "--shuffles",
            1,
            "--quiet",
            "--report",
            report,
            "--json",
            out,
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    z = json.loads(out.read_text())["nulls"]["layer"]["z_score"]
    assert z == "nan"
    assert f"{float(z):8.2f}" in captured.out
    assert f"<td>{float(z):.2f}</td>" in (report / "index.html").read_text()
    # Equal non-zero weights: every "layer_nonzero" shuffle is the network itself.
    blocks = tmp_path / "blocks.npz"
    np.savez(blocks, np.kron(np.eye(2), np.ones((3, 3))))
    code = main(
        [
            "analyze",
            blocks,
            "--clusters",
            2,
            "--shuffles",
            5,
            "--quiet",
            "--shuffle",
            "layer_nonzero",
            "--report",
            tmp_path / "report2",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert (tmp_path / "report2" / "index.html").exists()


def test_bfloat16_safetensors_are_analyzed(capsys, tmp_path):
    torch = pytest.importorskip("torch")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    w = random_pruned_mlp((20, 20, 10), sparsity=0.5, seed=0)
    path = tmp_path / "net.safetensors"
    safetensors_torch.save_file(
        {f"{i}.weight": torch.from_numpy(a.T.copy()).to(torch.bfloat16) for i, a in enumerate(w)},
        str(path),
    )
    assert main(["analyze", path, "--clusters", 3, "--shuffles", 4, "--quiet"]) == 0
    assert "n-cut" in capsys.readouterr().out


def test_lesion_threads_are_capped(tmp_path):
    pytest.importorskip("torch")
    from modcore.nn import MLP, checkpoint

    path = tmp_path / "mlp.pt"
    checkpoint.save(MLP([784, 16, 10], seed=0), path)
    # A million torch threads reserve more stacks than the address space holds.
    proc = run_python(
        f"""
        from modcore.cli.main import main
        print(main(["lesion", {str(path)!r}, "--dataset", "line", "--n-test", "64",
                    "--clusters", "2", "--random-lesions", "2", "--no-double", "--quiet",
                    "--threads", "1000000"]))
    """,
        address_space_gb=6,
        timeout=120,
    )
    assert proc.returncode == 0 and proc.stdout.strip().endswith("0"), proc.stderr


# Every option that names something modcore writes, per subcommand, with the arguments it
# needs besides: "file" options take a file name, "dir" options a directory.
OUTPUTS = {
    ("analyze", "--json"): (["{net}"], "file"),
    ("analyze", "--report"): (["{net}"], "dir"),
    ("sweep", "--out"): (["{net}"], "file"),
    ("sweep", "--json"): (["{net}"], "file"),
    ("sweep", "--csv"): (["{net}"], "file"),
    ("train", "--out"): ([], "file"),
    ("demo", "--out"): ([], "dir"),
    ("demo", "--json"): ([], "file"),
    ("lesion", "--json"): (["{net}"], "file"),
    ("lesion", "--report"): (["{net}"], "dir"),
    ("reproduce", "--out"): ([], "dir"),
    ("functional", "--json"): (["{net}"], "file"),
    ("functional", "--report"): (["{net}"], "dir"),
}
# The options that name something modcore only reads.
INPUTS = {"network", "networks", "--data-dir", "--weights"}


def _path_options():
    """(command, option, type) of every option of every subcommand typed as a path."""
    import argparse
    from pathlib import Path

    from modcore.cli import main as cli
    from modcore.cli import options

    parser = cli._parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for command, p in sub.choices.items():
        for action in p._actions:
            if action.type in (Path, options._output_file, options._output_dir):
                name = action.option_strings[0] if action.option_strings else action.dest
                yield command, name, action.type


def test_every_output_option_is_checked_and_every_path_option_classified():
    from pathlib import Path

    from modcore.cli import options

    kinds = {options._output_file: "file", options._output_dir: "dir"}
    outputs = {(c, o): kinds[t] for c, o, t in _path_options() if t is not Path}
    assert outputs == {key: kind for key, (_, kind) in OUTPUTS.items()}
    assert {o for _, o, t in _path_options() if t is Path} <= INPUTS


@pytest.mark.parametrize("command, option", sorted(OUTPUTS))
def test_an_output_in_a_missing_folder_is_one_line_and_creates_nothing(
    capsys, tmp_path, npz, command, option
):
    before, kind = OUTPUTS[command, option]
    missing = tmp_path / "missing"
    target = missing / ("out.csv" if kind == "file" else "out")
    argv = [command, *(a.format(net=npz) for a in before), option, target]
    fails_in_one_line(capsys, argv, f"{option}: {target}: {missing} does not exist")
    assert not missing.exists()


def test_missing_fashion_for_the_command_names_data_dir(capsys, tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from modcore.nn import datasets, load_dataset

    monkeypatch.setattr(datasets, "FASHION_SYSTEM_DIR", tmp_path / "not-installed")
    monkeypatch.delenv("MODCORE_DATA", raising=False)
    out = tmp_path / "t.pt"
    assert main(["train", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "apt-get install dataset-fashion-mnist" in err and "passed as --data-dir DIR" in err
    assert "data_dir" not in err and not out.exists()
    # The Python API keeps its own spelling.
    with pytest.raises(FileNotFoundError, match=r"passed as data_dir=\.\.\."):
        load_dataset("fashion")


def test_a_warning_is_one_note_line_and_a_later_failure_one_more(capsys, tmp_path):
    # a fragment between the hidden layers, off both ends: FloatingUnitsWarning
    w = [np.zeros((4, 4)) for _ in range(3)]
    for block in w:
        block[0, 0] = block[1, 1] = block[0, 1] = 1.0
    w[1][3, 3] = 1.0
    path = tmp_path / "net.npz"
    np.savez(path, *w)
    assert main(["analyze", str(path), "--n-clusters", "2", "--n-shuffles", "3"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    notes = [line for line in err if "FloatingUnitsWarning" in line or "modcore: note:" in line]
    assert len(notes) == 1 and notes[0].startswith("modcore: note: 2 units with edges"), err
    assert not any("UserWarning" in line or line.startswith("  ") for line in err), err
    code = main(["analyze", str(path), "--n-clusters", "20", "--n-shuffles", "3"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("modcore: error: n_clusters must be"), err
    assert all(line.startswith("modcore: note:") for line in err[:-1]), err
