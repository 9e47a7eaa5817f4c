"""The modcore command, run as a user would (python -m modcore)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from modcore.synthetic import planted_modular_mlp


def run(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "modcore", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def npz(tmp_path):
    weights, _ = planted_modular_mlp((30, 24, 24, 12), 3, noise=0.02, seed=0)
    path = tmp_path / "net.npz"
    np.savez(path, *weights)
    return path


def test_analyze_prints_table_and_writes_json(npz, tmp_path):
    out = tmp_path / "res.json"
    proc = run("analyze", npz, "--clusters", 3, "--shuffles", 20, "--shuffle", "layer",
               "--shuffle", "layer_nonzero", "--json", out, "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "layer_nonzero" in proc.stdout and "n-cut" in proc.stdout
    res = json.loads(out.read_text())
    assert res["layer_sizes"] == [30, 24, 24, 12] and res["n_clusters"] == 3
    for name in ("layer", "layer_nonzero"):
        null = res["nulls"][name]
        assert null["n_shuffles"] == 20 and len(null["shuffled_ncuts"]) == 20
        assert null["p_value"] == pytest.approx(1 / 21)
    assert [len(l) for l in res["labels"]] == [30, 24, 24, 12]


def test_analyze_same_seed_same_json(npz, tmp_path):
    outs = []
    for i in range(2):
        out = tmp_path / f"r{i}.json"
        assert run("analyze", npz, "--clusters", 3, "--shuffles", 8, "--json", out, "--quiet",
                   "--jobs", i + 1).returncode == 0
        res = json.loads(out.read_text())
        outs.append((res["ncut"], res["nulls"]["layer"]["shuffled_ncuts"]))
    assert outs[0] == outs[1]


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
    proc = run("analyze", npz, "--clusters", 1, "--quiet")
    assert proc.returncode == 2 and "n_clusters" in proc.stderr
    proc = run("analyze", npz, "--shuffle", "nope")
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_version_and_help():
    assert run("--version").stdout.startswith("modcore ")
    assert "analyze" in run("--help").stdout
