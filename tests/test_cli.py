"""The modcore command, run as a user would (python -m modcore)."""

import json
import os
import re
import signal
import subprocess
import sys

import numpy as np
import pytest

from modcore.cli import main as cli
from modcore.experiments.sweep import COLUMNS
from modcore.network.synthetic import planted_modular_mlp
from processes import interruptible


def run(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "modcore", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def npz(tmp_path):
    weights, _ = planted_modular_mlp((30, 24, 24, 12), 3, noise=0.02, seed=0)
    path = tmp_path / "net.npz"
    np.savez(path, *weights)
    return path


def test_analyze_prints_table_and_writes_json(npz, tmp_path):
    out = tmp_path / "res.json"
    proc = run(
        "analyze",
        npz,
        "--n-clusters",
        3,
        "--n-shuffles",
        20,
        "--shuffle",
        "layer",
        "--shuffle",
        "layer_nonzero",
        "--json",
        out,
        "--quiet",
    )
    assert proc.returncode == 0, proc.stderr
    assert "layer_nonzero" in proc.stdout and "n-cut" in proc.stdout
    res = json.loads(out.read_text())
    assert res["layer_sizes"] == [30, 24, 24, 12] and res["n_clusters"] == 3
    for name in ("layer", "layer_nonzero"):
        null = res["nulls"][name]
        assert null["n_shuffles"] == 20 and len(null["shuffled_ncuts"]) == 20
        assert null["p_value"] == pytest.approx(1 / 21)
    assert [len(l) for l in res["labels"]] == [30, 24, 24, 12]


# (subcommand and its arguments, new spellings, old spellings of the same options)
SPELLINGS = [
    (
        ["analyze", "n.npz"],
        ["--n-clusters", "3", "--n-shuffles", "7", "--n-jobs", "1"],
        ["--clusters", "3", "--shuffles", "7", "--jobs", "1"],
    ),
    (
        ["sweep", "nets"],
        ["--n-clusters", "3", "--n-shuffles", "7", "--n-jobs", "1"],
        ["--clusters", "3", "--shuffles", "7", "--jobs", "1"],
    ),
    (
        ["demo"],
        ["--n-clusters", "3", "--n-shuffles", "7", "--n-jobs", "1"],
        ["--clusters", "3", "--shuffles", "7", "--jobs", "1"],
    ),
    (
        ["lesion", "n.pt"],
        ["--n-clusters", "3", "--n-jobs", "2"],
        ["--clusters", "3", "--threads", "2"],
    ),
    (
        ["reproduce"],
        ["--n-clusters", "3", "--n-shuffles", "7", "--n-jobs", "1"],
        ["--clusters", "3", "--shuffles", "7", "--jobs", "1"],
    ),
]


@pytest.mark.parametrize("command, new, old", SPELLINGS, ids=[c[0][0] for c in SPELLINGS])
def test_old_option_spellings_still_work_but_are_not_listed(command, new, old, capsys):
    parser = cli._parser()
    given = vars(parser.parse_args(command + new))
    assert given == vars(parser.parse_args(command + old))
    assert given != vars(parser.parse_args(command))  # the values did arrive
    with pytest.raises(SystemExit):
        parser.parse_args(command + ["--help"])
    listed = set(re.findall(r"--[a-z][\w-]*", capsys.readouterr().out))
    assert {o for o in new if o.startswith("--")} <= listed
    assert not {o for o in old if o.startswith("--")} & listed


@pytest.mark.parametrize("content, message", [(None, "no such file"), (b"garbage", "bad.npz")])
def test_analyze_bad_file_is_one_line_exit_2(tmp_path, content, message):
    path = tmp_path / "bad.npz"
    if content is not None:
        path.write_bytes(content)
    proc = run("analyze", path)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_analyze_bad_parameters_exit_2(npz):
    proc = run("analyze", npz, "--n-clusters", 1, "--quiet")
    assert proc.returncode == 2 and "--n-clusters" in proc.stderr
    proc = run("analyze", npz, "--shuffle", "nope")
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_version_and_help():
    assert run("--version").stdout.startswith("modcore ")
    assert "analyze" in run("--help").stdout


def test_analyze_writes_a_report(npz, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "report"
    proc = run("analyze", npz, "--n-clusters", 3, "--n-shuffles", 10, "--quiet", "--report", out)
    assert proc.returncode == 0, proc.stderr
    assert f"report written to {out / 'index.html'}" in proc.stdout
    saved = json.loads((out / "summary.json").read_text())
    assert saved["command"].startswith("modcore analyze ")
    assert saved["arguments"]["n_shuffles"] == 10
    assert saved["network"] == str(npz) and saved["nulls"]["layer"]["n_shuffles"] == 10
    assert {"null_layer.png", "network.png", "weights.png", "module_sizes.png"} <= {
        p.name for p in out.iterdir()
    }


def test_train_is_seeded_and_its_checkpoint_analyzed(tmp_path):
    pytest.importorskip("torch")
    from modcore import weights_from_module

    nets = [tmp_path / "a.pt", tmp_path / "b.pt"]
    for net in nets:
        proc = run(
            "train",
            "--dataset",
            "line",
            "--widths",
            "784,16,10",
            "--epochs",
            1,
            "--n-train",
            256,
            "--out",
            net,
            "--quiet",
        )
        assert proc.returncode == 0, proc.stderr
        assert "test accuracy" in proc.stdout
    for a, b in zip(*map(weights_from_module, nets)):
        np.testing.assert_array_equal(a, b)
    proc = run("analyze", nets[0], "--n-clusters", 3, "--n-shuffles", 5, "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "784-16-10" in proc.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (("--dataset", "nope"), "unknown data set"),
        (("--dataset", "line", "--n-train", 100, "--widths", "100,10"), "784"),
        (("--dataset", "line", "--prune", 0.5), "--prune must be 0.9 (the paper's schedule) or 0"),
    ],
)
def test_train_bad_input_is_one_line_exit_2(tmp_path, args, message):
    pytest.importorskip("torch")
    proc = run("train", *args, "--out", tmp_path / "net.pt", "--quiet")
    assert proc.returncode == 2 and message in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_train_cnn_writes_a_checkpoint_that_loads(tmp_path):
    pytest.importorskip("torch")
    from modcore.nn import CNN, checkpoint

    net = tmp_path / "cnn.pt"
    # One batch of 64 per epoch: an epoch of training, then one of pruning.
    proc = run(
        "train",
        "--arch",
        "cnn",
        "--dataset",
        "line",
        "--epochs",
        1,
        "--n-train",
        64,
        "--n-test",
        32,
        "--conv-dropout",
        0.25,
        "--dropout",
        0.5,
        "--out",
        net,
        "--quiet",
    )
    assert proc.returncode == 0, proc.stderr
    saved = checkpoint.load(net)
    assert saved.arch == "cnn" and isinstance(saved.model, CNN)
    assert saved.config["channels"] == [64, 64, 64] and saved.config["dense"] == [128]
    assert (saved.config["conv_dropout"], saved.config["dense_dropout"]) == (0.25, 0.5)
    sizes = [64 * 9, 64 * 64 * 9, 64 * 64 * 9, 128 * 3136, 10 * 128]
    assert saved.sparsity == pytest.approx([round(0.9 * n) / n for n in sizes], abs=1e-7)
    meta = saved.metadata
    assert (meta["arch"], meta["batch_size"], meta["epochs"], meta["prune_epochs"]) == (
        "cnn",
        64,
        1,
        1,
    )
    assert (meta["n_train"], meta["n_test"], meta["seed"]) == (64, 32, 0)


@pytest.mark.parametrize(
    "args, message",
    [
        (("--arch", "cnn", "--widths", "784,10"), "--widths"),
        (("--conv-dropout", "0.25"), "--arch cnn only"),
        (("--arch", "cnn", "--dropout", "1.5", "--n-train", "64", "--n-test", "16"), "--dropout"),
    ],
)
def test_train_bad_cnn_options_exit_2(tmp_path, capsys, args, message):
    pytest.importorskip("torch")
    from modcore.cli.main import main

    code = main(["train", "--dataset", "line", *args, "--out", tmp_path / "net.pt", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_lesion_takes_a_cnn_checkpoint(tmp_path, capsys):
    pytest.importorskip("torch")
    from modcore.cli.main import main
    from modcore.nn import CNN, checkpoint

    net, out = tmp_path / "cnn.pt", tmp_path / "lesion.json"
    checkpoint.save(CNN(channels=(4, 4), pool_after=(True, True), dense=(8,), seed=0), net)
    # The input shape comes from the checkpoint: the images are not flattened.
    assert (
        main(
            [
                "lesion",
                net,
                "--dataset",
                "line",
                "--n-test",
                "100",
                "--clusters",
                "3",
                "--random-lesions",
                "3",
                "--rule",
                "paper",
                "--pairs",
                "all",
                "--json",
                out,
                "--quiet",
            ]
        )
        == 0
    )
    res = json.loads(out.read_text())
    assert res["arch"] == "cnn" and res["rule"] == "paper" and res["pair_set"] == "all"
    assert res["group_names"] == ["input", "0", "3", "7", "9"]
    assert res["unit_kinds"][1:4] == ["channels", "channels", "neurons"]
    assert "paper rule" in capsys.readouterr().out
    assert (
        main(
            [
                "lesion",
                net,
                "--dataset",
                "line",
                "--n-test",
                "100",
                "--input-shape",
                "2,28,28",
                "--quiet",
            ]
        )
        == 2
    )
    assert "do not reshape to --input-shape 2,28,28" in capsys.readouterr().err
    assert (
        main(
            [
                "lesion",
                net,
                "--dataset",
                "line",
                "--n-test",
                "100",
                "--input-shape",
                "784",
                "--quiet",
            ]
        )
        == 2
    )
    assert "inputs of shape (784,) but the network takes (1, 28, 28)" in capsys.readouterr().err


def test_demo_runs_end_to_end(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    out = tmp_path / "demo"
    proc = run(
        "demo",
        "--out",
        out,
        "--n-shuffles",
        20,
        "--epochs",
        1,
        "--n-train",
        1000,
        "--quiet",
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "demo data set:" in proc.stdout
    saved = json.loads((out / "summary.json").read_text())
    assert set(saved["nulls"]) == {"layer", "layer_nonzero"}
    assert saved["training"]["dataset"] in ("fashion", "line")
    assert saved["layer_sizes"] == [784, 256, 256, 256, 256, 10]
    assert (out / "index.html").is_file() and (out / "net.pt").is_file()


def test_report_without_matplotlib_fails_before_the_work(npz, tmp_path):
    out = tmp_path / "report"
    code = (
        "import sys; sys.modules['matplotlib'] = None; from modcore.cli.main import main; "
        f"sys.exit(main(['analyze', {str(npz)!r}, '--report', {str(out)!r}]))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "pip install 'modcore[plot]'" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stdout == "" and not out.exists()


def test_sweep_directory_writes_and_resumes(tmp_path):
    pd = pytest.importorskip("pandas")
    nets = tmp_path / "nets"
    nets.mkdir()
    for i in range(2):
        weights, _ = planted_modular_mlp((20, 16, 8), 2, noise=0.05, seed=i)
        np.savez(nets / f"net{i}.npz", *weights)
    out, js = tmp_path / "res.csv", tmp_path / "res.json"
    csv = tmp_path / "table.csv"
    args = ("sweep", nets, "--n-clusters", 2, "--n-shuffles", 5, "--out", out, "--quiet")
    first = run(*args, "--json", js, "--csv", csv)
    assert first.returncode == 0, first.stderr
    assert "net0" in first.stdout and "net1" in first.stdout and "p_value_bh" in first.stdout
    rows = pd.read_csv(out)
    assert list(rows["name"]) == ["net0.npz", "net1.npz"] and set(rows["n_shuffles"]) == {5}
    assert "p_value_bh" not in rows  # the results file holds no adjusted p-values
    records = json.loads(js.read_text())  # --json: the same table, one record per row
    table = pd.read_csv(csv)  # --csv: the table, adjusted p-values included
    assert list(table.columns) == list(COLUMNS)
    for column in ("name", "ncut", "p_value"):
        assert [r[column] for r in records] == list(rows[column]) == list(table[column])
    assert [r["p_value_bh"] for r in records] == list(table["p_value_bh"])
    before = out.read_bytes()
    again = run(*args)
    assert again.returncode == 0 and out.read_bytes() == before


def test_lesion_command_writes_json_and_report(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    net = tmp_path / "<img src=x onerror=alert(1)>.pt"  # a file name is user text
    proc = run(
        "train",
        "--dataset",
        "line",
        "--widths",
        "784,24,24,10",
        "--epochs",
        1,
        "--n-train",
        512,
        "--out",
        net,
        "--quiet",
    )
    assert proc.returncode == 0, proc.stderr
    out, report = tmp_path / "lesion.json", tmp_path / "report"
    proc = run(
        "lesion",
        net,
        "--dataset",
        "line",
        "--n-test",
        200,
        "--n-clusters",
        3,
        "--random-lesions",
        5,
        "--json",
        out,
        "--report",
        report,
        "--quiet",
        "--threads",
        1,
    )  # the old spelling of --n-jobs
    assert proc.returncode == 0, proc.stderr
    res = json.loads(out.read_text())
    assert res["dataset"] == "line" and res["network"] == str(net)
    assert (report / "lesion.md").exists() and (report / "lesion_single.png").exists()
    markdown = (report / "lesion.md").read_text()
    assert not re.search(r"(?<!\\)<img", markdown)  # the file name's tag is escaped
    assert r"\<img src=x onerror=alert\(1\)\>\.pt" in markdown
    bad = run("lesion", tmp_path / "missing.pt", "--dataset", "line", "--quiet")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    bad = run("lesion", net, "--dataset", "line", "--quiet", "--n-jobs", 0)
    assert bad.returncode == 2 and "argument --n-jobs: expected an integer >= 1" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_ctrl_c_exits_130_with_one_line(npz):
    proc = interruptible(
        [
            sys.executable,
            "-m",
            "modcore",
            "analyze",
            str(npz),
            "--n-clusters",
            "3",
            "--n-shuffles",
            str(10**6),
        ]
    )
    try:
        err = b""
        while b"layer shuffles" not in err:  # the null's progress bar: the work is under way
            chunk = os.read(proc.stderr.fileno(), 4096)
            assert chunk, err.decode()
            err += chunk
        proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=90)
    finally:
        proc.kill()
    assert proc.returncode == 130
    last = (err + rest).decode().replace("\r", "\n").strip().splitlines()[-1]
    assert last == "modcore: interrupted" and b"Traceback" not in rest


@pytest.fixture
def no_fashion(tmp_path, monkeypatch):
    """A machine without Fashion-MNIST: Debian's folder and $MODCORE_DATA point nowhere."""
    pytest.importorskip("torch")
    from modcore.nn import datasets

    monkeypatch.setattr(datasets, "FASHION_SYSTEM_DIR", tmp_path / "not-installed")
    monkeypatch.delenv("MODCORE_DATA", raising=False)


def test_demo_without_fashion_says_how_to_get_it_and_states_a_true_verdict(
    tmp_path, no_fashion, capsys
):
    pytest.importorskip("matplotlib")
    out = tmp_path / "demo"
    argv = ["demo", "--out", out, "--n-shuffles", 20, "--epochs", 1, "--n-train", 1000, "--quiet"]
    assert cli.main([str(a) for a in argv]) == 0
    printed = capsys.readouterr().out
    # How to get the real data, in the command's terms, and what runs instead.
    assert "apt-get install dataset-fashion-mnist" in printed
    assert "--data-dir DIR" in printed and "data_dir=" not in printed
    assert "demo data set: bands (synthetic" in printed
    assert printed.index("demo data set:") < printed.index("training a mlp")
    saved = json.loads((out / "summary.json").read_text())
    assert saved["training"]["dataset"] == "bands" and "synthetic" in saved["note"]
    assert "synthetic" in re.search(r'<p id="note">(.*?)</p>', (out / "index.html").read_text())[1]
    # The nulls the demo ran are the ones its --help names.
    help_text = " ".join(run("demo", "--help").stdout.split())
    default = re.search(r"repeat for several \(default: (\w+) and (\w+)\)", help_text)
    assert set(saved["nulls"]) == set(default.groups()) == {"layer", "layer_nonzero"}
    # Each stated verdict agrees with its p-value, in the terminal and in the report,
    # whatever the one-epoch training gave (its z and p differ between CPUs): found by
    # the null it names, not by one wording.
    page = (out / "index.html").read_text()
    for name, null in saved["nulls"].items():
        said = re.findall(rf"^  (.*more modular than 20 '{name}' shuffles.*)$", printed, re.M)
        assert len(said) == 1, printed
        significant = null["p_value"] <= 0.05
        assert said[0].startswith("more modular than") == significant
        assert said[0].startswith("not ") == (not significant)
        assert f"z = {null['z_score']:.2f}, p = {null['p_value']:.2g}" in said[0]
        assert f"<li><strong>{said[0]}</strong>".replace("'", "&#x27;") in page


def test_demo_with_a_data_dir_lacking_fashion_is_an_error(tmp_path, no_fashion, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli.main(["demo", "--out", str(tmp_path / "demo"), "--data-dir", str(empty)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and f"{empty} (missing" in err
    assert not (tmp_path / "demo").exists()
