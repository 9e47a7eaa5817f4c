"""The package's layering (pyproject.toml's [tool.importlinter] contracts) holds over the real
import graph, function-level imports included: imports only go down, cli > experiments >
report > functional > nn > method > network > common. A broken contract fails with the
import chain that breaks it."""

from pathlib import Path

import pytest

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def test_import_contracts_hold(capsys):
    cli = pytest.importorskip(
        "importlinter.cli", reason="import-linter is not installed (the lint extra has it)"
    )
    status = cli.lint_imports(config_filename=str(PYPROJECT), no_cache=True, no_logo=True)
    report = capsys.readouterr().out
    assert status == 0, report
    assert "0 broken" in report, report
