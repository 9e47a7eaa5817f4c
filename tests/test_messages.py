"""Messages in the user's terms (issue 29 item 6): every subcommand's --help says what it
does and states its options' true defaults, numeric limits are refused by the parser
before any loading, and every ``modcore.X`` the README and docs name resolves after
``import modcore`` alone."""

import argparse
import dataclasses
import json
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

import modcore
from modcore.cli.main import _parser, main
from modcore.report.verdict import best_k_rule, k_choice

ROOT = pathlib.Path(__file__).resolve().parents[1]
COMMANDS = ("analyze", "sweep", "train", "demo", "lesion", "reproduce", "functional")


def _subparsers():
    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices


def _options(parser):
    for action in parser._actions:
        if action.option_strings and action.help not in (None, argparse.SUPPRESS):
            if action.dest != "help":
                yield action


def test_every_subcommand_help_opens_with_what_it_does():
    choices = _subparsers()
    assert set(choices) == set(COMMANDS)
    for name, parser in choices.items():
        assert parser.description, name
        assert " ".join(parser.description.split()) in " ".join(parser.format_help().split())


def test_every_option_has_help_stating_its_own_default():
    checked = 0
    for name, parser in _subparsers().items():
        for action in _options(parser):
            assert action.help.strip(), (name, action.option_strings)
            for m in re.finditer(r"\(default:? ([^;,)]+)|default (\S+?)[;,)]", action.help):
                stated = (m.group(1) or m.group(2)).strip()
                default = action.default
                if isinstance(action, argparse._StoreTrueAction):
                    continue  # a flag; a default it names is another setting's
                if isinstance(default, bool):
                    assert stated == ("yes" if default else "no"), (name, action.dest)
                elif isinstance(default, (int, float)):
                    assert float(stated) == default, (name, action.dest, stated)
                elif isinstance(default, str):
                    assert stated == default, (name, action.dest, stated)
                else:
                    continue
                checked += 1
    # (train's --spectral-eigenvalues, --spectral-every, --partition-clusters and
    # --partition-every default to None, so that giving one without its term is refused:
    # the defaults they state are their settings' dataclasses', not checked here.)
    assert checked > 36


def test_no_option_help_describes_another_subcommand():
    other = "|".join(COMMANDS)
    for name, parser in _subparsers().items():
        for action in _options(parser):
            # A cross-reference ("modcore lesion --preset") is fine; "analyze also takes" is not.
            text = re.sub(rf"modcore ({other})", "", action.help)
            found = re.findall(rf"\b({other})\b (also|takes|accepts)", text)
            assert not found, (name, action.option_strings, action.help)


def test_k_choices_only_where_the_command_takes_them():
    for name in ("analyze", "demo"):
        assert _subparsers()[name].parse_args(["--n-clusters", "2:4"]).n_clusters == range(2, 5)
    with pytest.raises(SystemExit):
        _subparsers()["sweep"].parse_args(["x.npz", "--n-clusters", "2:4"])


@pytest.mark.parametrize(
    "args, message",
    [
        (["lesion", "absent.pt", "--random-lesions", "10000000"],
         "--random-lesions: expected an integer in [1, 100000]"),
        (["train", "--partition-clusters", "1", "--out", "x.pt"],
         "--partition-clusters: expected an integer in [2,"),
        (["analyze", "absent.npz", "--n-clusters", "5:3"],
         "a range goes from low to high; did you mean 3:5?"),
        (["analyze", "absent.npz", "--n-clusters", "2:2"], "a range holds at least two k"),
    ],
)  # fmt: skip
def test_numeric_limits_are_refused_by_the_parser_before_any_loading(args, message, capsys):
    # The files do not exist: the limit is named before anything is read.
    assert main(args) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and message in err, err


def test_a_results_folder_is_named_as_one(tmp_path):
    net = [np.ones((3, 3)), np.ones((3, 2))]
    with pytest.raises(ValueError, match=r"is a folder; expected a modcore sweep results file"):
        modcore.sweep({"a": net}, results_path=tmp_path, n_shuffles=2, progress=False)


def test_when_no_k_has_a_z_the_choice_of_k_says_so(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "net.npz", *[rng.random((8, 8)) for _ in range(3)])
    out = tmp_path / "r.json"
    args = ["analyze", tmp_path / "net.npz", "--n-clusters", "2:4", "--n-shuffles", "1"]
    assert main([*args, "--quiet", "--json", out]) == 0
    text = capsys.readouterr().out
    assert "z is undefined at every k" in text and "lowest z" not in text
    results = json.loads(out.read_text())
    assert "z is undefined at every k" in k_choice(results)
    # With z defined, ties are broken by it.
    assert "ties: lowest z" in best_k_rule("layer", [0.5, 0.1], [1.0, -2.0])
    assert best_k_rule("layer", [0.5, 0.5], ["nan", None]).startswith("the smallest k")
    # Undefined p-values at every k are one value, not as many as there are ks.
    assert best_k_rule("layer", [None, "nan", float("nan")], [None] * 3).startswith(
        "the smallest k"
    )


def _named(text):
    return set(m.rstrip(".") for m in re.findall(r"(?<![\w./-])modcore(?:\.[A-Za-z_]\w*)+", text))


def test_every_modcore_name_in_the_readme_and_docs_resolves_after_import_modcore():
    pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.rst"))]
    files += sorted((ROOT / "docs").glob("**/*.py"))
    # What the docs build writes into docs/ (ignored by git) is not what anyone wrote.
    built = {"_build", "generated", "auto_examples"}
    names = sorted(set().union(*(_named(f.read_text()) for f in files if not built & set(f.parts))))
    assert "modcore.report.verdict" in names and len(names) > 40
    # A fresh interpreter: nothing imported but modcore, as a reader of the README starts.
    script = (
        "import dataclasses, json, sys, modcore\n"
        "bad = []\n"
        "for name in json.loads(sys.argv[1]):\n"
        "    obj, parts = modcore, name.split('.')[1:]\n"
        "    for i, part in enumerate(parts):\n"
        "        dc = dataclasses.is_dataclass(obj)\n"
        "        fields = {f.name for f in dataclasses.fields(obj)} if dc else set()\n"
        "        if part in fields and i == len(parts) - 1:\n"
        "            break\n"
        "        try:\n"
        "            obj = getattr(obj, part)\n"
        "        except AttributeError:\n"
        "            bad.append(name)\n"
        "            break\n"
        "print(json.dumps(bad))\n"
    )  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(pathlib.Path(modcore.__file__).resolve().parents[1])}
    proc = subprocess.run(
        [sys.executable, "-c", script, json.dumps(names)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_an_unknown_name_is_still_an_attribute_error():
    for owner in (modcore, modcore.report, modcore.network):
        with pytest.raises(AttributeError, match="has no attribute 'nosuch'"):
            getattr(owner, "nosuch")  # noqa: B009
    assert not dataclasses.is_dataclass(modcore)
