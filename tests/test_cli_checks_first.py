"""Every option check that the arguments alone decide runs before any data set,
checkpoint or model is read: each subcommand refuses a bad value in one line naming
the option, with every loader replaced by one that fails the test if called."""

import numpy as np
import pytest

pytest.importorskip("torch")

import modcore.cli.analyze
import modcore.network.transformer.read_gpt2
import modcore.nn
import modcore.nn.checkpoint
from modcore.cli.main import main


class _Loaded(BaseException):
    """Not an error the command handles: it reaches the test as a failure."""


def _loader(*args, **kwargs):
    raise _Loaded("data, a checkpoint or a model was read before the options were checked")


@pytest.fixture
def no_loading(monkeypatch):
    monkeypatch.setattr(modcore.nn, "load_dataset", _loader)
    monkeypatch.setattr(modcore.nn.checkpoint, "load", _loader)
    monkeypatch.setattr(modcore.cli.analyze, "model_from_factory", _loader)
    monkeypatch.setattr(modcore.network.transformer.read_gpt2, "load_gpt2", _loader)


@pytest.fixture
def paths(tmp_path):
    (tmp_path / "net.pt").write_bytes(b"not read")
    (tmp_path / "gpt2").mkdir()
    (tmp_path / "gpt2" / "config.json").write_text("{}")
    np.savez(tmp_path / "net.npz", np.ones((3, 2)), np.ones((2, 2)))
    (tmp_path / "garbage.npz").write_bytes(b"not an npz")
    return tmp_path


# A data directory that does not exist: the message must be the option's, not that.
NO_DATA = ["--data-dir", "/nonexistent/modcore-data"]
TRAIN = ["train", "--dataset", "fashion", *NO_DATA, "--out", "{tmp}/out.pt", "--quiet"]
LESION = ["lesion", "{tmp}/net.pt", *NO_DATA, "--quiet"]
FUNCTIONAL = ["functional", "{tmp}/net.pt", *NO_DATA, "--quiet"]


@pytest.mark.parametrize(
    "argv, option",
    [
        ([*TRAIN, "--clusterable-init", "100000"], "--clusterable-init 100000"),
        ([*TRAIN, "--arch", "cnn", "--clusterable-init", "65"], "--clusterable-init 65"),
        ([*TRAIN, "--spectral", "1e-3", "--spectral-eigenvalues", "100000"], "--spectral-eigen"),
        ([*TRAIN, "--spectral-eigenvalues", "5"], "needs --spectral"),
        ([*TRAIN, "--partition", "0.1", "--partition-clusters", "5000"], "--partition-clusters"),
        ([*TRAIN, "--partition-every", "5"], "needs --partition"),
        ([*TRAIN, "--widths", "100,10"], "--widths starts with 100"),
        ([*TRAIN, "--prune", "0", "--prune-epochs", "2"], "--prune-epochs"),
        ([*TRAIN, "--dataset", "fashoin"], "--dataset: unknown data set"),
        (["analyze", "--model", "m:f", "--view", "virtual"], "--view reads"),
        (["analyze", "--model", "m:f", "--top-k", "3"], "--top-k reads"),
        (["analyze", "{tmp}/gpt2", "--view", "blocks", "--preset", "paper_cnn"], "--preset"),
        ([*LESION, "--input-shape", "5,5"], "do not reshape to --input-shape 5,5"),
        ([*LESION, "--pair-set", "all", "--no-double"], "--pair-set all"),
        ([*LESION, "--dataset", "fashoin"], "--dataset: unknown data set"),
        ([*FUNCTIONAL, "--input-shape", "5,5"], "do not reshape to --input-shape 5,5"),
        ([*FUNCTIONAL, "--dataset", "fashoin"], "--dataset: unknown data set"),
        (["demo", "--out", "{tmp}/demo", *NO_DATA, "--n-clusters", "5000"], "--n-clusters 5000"),
        (["sweep", "{tmp}/garbage.npz", "--out", "{tmp}/rows.txt"], "must end in .csv or .jsonl"),
        (["reproduce", "--datasets", "fashoin", *NO_DATA, "--out", "{tmp}/rep"], "fashoin"),
        (["reproduce", "--lesions", "--conditions", "plain", "--out", "{tmp}/rep"], "--conditions"),
    ],
)
def test_options_are_checked_before_anything_loads(no_loading, paths, capsys, argv, option):
    code = main([a.format(tmp=paths) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and option in err, err
    assert "nonexistent" not in err and "not read" not in err, err
