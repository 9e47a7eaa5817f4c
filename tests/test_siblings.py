"""Sibling functions and options agree (issue 28 item 4): the same options under the
same names, in the API and in the CLI, old spellings kept with a deprecation."""

import argparse
import json
import re
from pathlib import Path

import numpy as np
import pytest

import modcore
import modcore.method.eigengap as eigengap_module
from modcore.network.synthetic import planted_modular_mlp


@pytest.fixture(scope="module")
def planted():
    w, _ = planted_modular_mlp([30, 30, 30], n_modules=4, noise=0.2, seed=0)
    return w


def test_eigengap_takes_n_jobs_and_its_result_does_not_depend_on_it(planted, monkeypatch):
    seen = []
    real = eigengap_module.core_spectral_embedding

    # Every graph counts as large, so the threads split each product (as from 2**22 edges).
    def threaded(*args, **kw):
        seen.append(kw["n_jobs"])
        return real(*args, **kw, large_graph=1)

    monkeypatch.setattr(eigengap_module, "core_spectral_embedding", threaded)
    run = dict(max_k=8, n_shuffles=3, eigen_method="full", seed=0)
    one = modcore.eigengap(planted, n_jobs=1, **run)
    two = modcore.eigengap(planted, n_jobs=2, **run)
    assert seen == [1] * 4 + [2] * 4  # the network and each shuffle
    assert one.k == two.k == 4
    np.testing.assert_allclose(two.eigenvalues, one.eigenvalues, rtol=0, atol=1e-9)
    np.testing.assert_allclose(two.shuffled_gaps, one.shuffled_gaps, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="n_jobs"):
        modcore.eigengap(planted, n_jobs=0)


def _parsers():
    from modcore.cli.main import _parser

    (sub,) = [a for a in _parser()._actions if a.dest == "command"]
    return sub.choices


def _listed_and_hidden(parser):
    listed, hidden = set(), set()
    for action in parser._actions:
        (hidden if action.help == argparse.SUPPRESS else listed).update(action.option_strings)
    return listed, hidden


@pytest.mark.parametrize(
    "command, new, old, value, dest",
    [
        ("functional", "--n-permutations", "--permutations", "7", "n_permutations"),
        ("lesion", "--pair-set", "--pairs", "all", "pair_set"),
        ("lesion", "--n-clusters", "--clusters", "3", "n_clusters"),
    ],
)
def test_cli_options_are_spelled_like_their_parameters_old_ones_hidden(
    command, new, old, value, dest
):
    parser = _parsers()[command]
    base = ["net.pt", "--dataset", "fashion"]
    a = vars(parser.parse_args([*base, new, value]))
    b = vars(parser.parse_args([*base, old, value]))
    assert a == b and str(a[dest]) == value
    listed, hidden = _listed_and_hidden(parser)
    assert new in listed and old in hidden and old not in parser.format_help()
    if command == "lesion":  # the alias keeps the choices
        with pytest.raises(SystemExit):
            parser.parse_args([*base, old, "some"])


def test_double_is_a_boolean_option():
    parser = _parsers()["lesion"]
    base = ["net.pt", "--dataset", "fashion"]
    assert parser.parse_args(base).double is True
    assert parser.parse_args([*base, "--no-double"]).double is False
    assert parser.parse_args([*base, "--double"]).double is True


README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_uses_the_parsers_options():
    # Every "modcore <command> ... --option" in the README is an option of that
    # command, under its listed spelling; the old spellings the README names are the
    # hidden aliases, all of them.
    parsers = _parsers()
    text = README.read_text()
    # a command's words run on over "\" line ends and inside `code spans` across lines
    commands = re.findall(r"modcore (\w+)((?:(?:\s*\\)?\s+(?!modcore\b)[^\s`#|\\]+)*)", text)
    checked = 0
    for command, tail in commands:
        if command not in parsers:
            continue
        listed, _ = _listed_and_hidden(parsers[command])
        for flag in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", tail):
            assert flag in listed, f"README: modcore {command} {flag}"
            checked += 1
    assert checked > 30
    hidden = set().union(*(_listed_and_hidden(p)[1] for p in parsers.values()))
    (sentence,) = re.findall(r"the older ([^.]*) still work", text)
    named = set(re.findall(r"`(--[a-z-]+)`", sentence))
    assert named == hidden


def test_shuffled_weights_is_deprecated_for_shuffled_network(planted):
    assert "shuffled_weights" not in modcore.__all__ and "shuffled_network" in modcore.__all__
    with pytest.warns(DeprecationWarning, match=r"shuffled_network\(\.\.\.\)\.chain_weights"):
        old = modcore.shuffled_weights(planted, shuffle="layer_nonzero", seed=3, index=2)
    new = modcore.shuffled_network(planted, shuffle="layer_nonzero", seed=3, index=2)
    for a, b in zip(old, new.chain_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_linear_layers_is_no_longer_exported():
    torch = pytest.importorskip("torch")
    import modcore.nn

    assert "linear_layers" not in modcore.nn.__all__
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    with pytest.warns(DeprecationWarning, match="weight_layers"):
        layers = modcore.nn.linear_layers(model)
    assert layers == [model[0], model[2]] == modcore.nn.weight_layers(model)


def test_analyze_takes_kernel_norm_and_preset_like_the_tracer(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    from modcore.cli.main import main
    from modcore.nn import CNN, checkpoint

    torch.manual_seed(0)
    model = CNN(channels=(4, 4), pool_after=(True, True), dense=(8,), seed=0)
    path = tmp_path / "cnn.pt"
    checkpoint.save(model, path)
    run = ["--n-clusters", "2", "--n-shuffles", "3", "--seed", "0", "--quiet"]
    ncuts = set()
    for norm, preset in [("l1", None), ("max_column", None), ("l2", "paper_cnn")]:
        out = tmp_path / f"{norm}.json"
        extra = ["--preset", preset] if preset else []
        argv = ["analyze", str(path), *run, "--kernel-norm", norm, *extra, "--json", str(out)]
        assert main(argv) == 0
        got = json.loads(out.read_text())
        net = modcore.Network.from_torch(
            checkpoint.load(path).model,
            input_shape=tuple(model.input_shape),
            kernel_norm=norm,
            preset=preset,
        )
        want = modcore.ncut_significance(net, n_clusters=2, n_shuffles=3, seed=0, progress=False)
        assert got["group_names"] == list(net.names)
        assert got["ncut"] == pytest.approx(want.ncut, rel=1e-12)
        ncuts.add(got["ncut"])
    assert len(ncuts) == 3  # each choice changes the graph
    weights = tmp_path / "w.npz"
    np.savez(weights, np.ones((3, 4)), np.ones((4, 2)))
    assert main(["analyze", str(weights), "--kernel-norm", "l2", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "w.npz" in err[0] and "checkpoint" in err[0], err


def test_every_seed_option_defaults_to_0_and_says_why():
    for command, parser in _parsers().items():
        (action,) = [a for a in parser._actions if "--seed" in a.option_strings] or [None]
        if action is None:
            continue
        assert action.default == 0, command
        if command != "train":  # the training options belong to cli/train.py's author
            assert "same command gives the same result" in action.help, command


def test_stability_shows_progress_per_clustering(planted):
    seen = []
    res = modcore.stability(
        planted, n_clusters=4, n_seeds=3, seed=0, progress=lambda d, t: seen.append((d, t))
    )
    assert seen == [(1, 3), (2, 3), (3, 3)] and len(res.clusterings) == 3
