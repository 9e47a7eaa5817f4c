"""`modcore train` with the terms that promote modularity: --l1/--l2, --clusterable-init,
--spectral; recorded in the checkpoint, and bad values refused in one line."""

import numpy as np
import pytest

pytest.importorskip("torch")

from modcore.cli.main import main
from modcore.nn import checkpoint

pytestmark = pytest.mark.usefixtures("torch_one_thread")

BASE = [
    "train",
    "--dataset",
    "line",
    "--widths",
    "784,12,12,10",
    "--epochs",
    "1",
    "--n-train",
    "128",
    "--n-test",
    "32",
    "--prune",
    "0",
    "--quiet",
]


def test_terms_train_and_are_recorded(tmp_path):
    plain, shaped = tmp_path / "plain.pt", tmp_path / "shaped.pt"
    assert main([*BASE, "--out", str(plain)]) == 0
    terms = [
        "--l1",
        "5e-5",
        "--l2",
        "5e-5",
        "--clusterable-init",
        "3",
        "--spectral",
        "1e-3",
        "--spectral-eigenvalues",
        "2",
        "--spectral-every",
        "1",
        "--partition",
        "0.1",
        "--partition-clusters",
        "3",
        "--partition-every",
        "2",
    ]
    assert main([*BASE, *terms, "--out", str(shaped)]) == 0
    meta = checkpoint.load(shaped).metadata
    assert (meta["l1"], meta["l2"], meta["clusterable_init"]) == (5e-5, 5e-5, 3)
    assert meta["spectral"] == {
        "strength": 1e-3,
        "n_eigenvalues": 2,
        "every": 1,
        "kernel_norm": "l1",
    }
    assert meta["partition"] == {
        "strength": 0.1,
        "n_clusters": 3,
        "refresh_every": 2,
        "kernel_norm": "l1",
    }
    assert checkpoint.load(plain).metadata["spectral"] is None
    a, b = (checkpoint.load(p).model[2].weight.detach().numpy() for p in (plain, shaped))
    assert not np.allclose(a, b)  # same seed: the terms changed the training


@pytest.mark.parametrize(
    "args, message",
    [
        (["--clusterable-init", "1"], "--clusterable-init"),
        (["--l1", "-1"], "--l1"),
        (["--spectral", "x"], "--spectral"),
        (["--spectral-every", "0"], "--spectral-every"),
        (["--partition", "-0.5"], "--partition"),
    ],
)
def test_bad_terms_exit_2(tmp_path, capsys, args, message):
    code = main([*BASE, *args, "--out", str(tmp_path / "net.pt")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_term_options_state_their_settings_defaults():
    # They default to None (given without their term, they are refused); the default
    # their help states is the one Spectral / Partition apply.
    import argparse
    import dataclasses
    import re

    from modcore.cli.main import _parser
    from modcore.nn.regularizers import Partition, Spectral

    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    fields = {
        "spectral_eigenvalues": (Spectral, "n_eigenvalues"),
        "spectral_every": (Spectral, "every"),
        "partition_clusters": (Partition, "n_clusters"),
        "partition_every": (Partition, "refresh_every"),
    }
    stated = {
        a.dest: int(re.search(r"\(default (\d+)\)", a.help).group(1))
        for a in sub.choices["train"]._actions
        if a.dest in fields
    }
    assert set(stated) == set(fields)
    for dest, (cls, name) in fields.items():
        default = {f.name: f.default for f in dataclasses.fields(cls)}[name]
        assert stated[dest] == default, dest
