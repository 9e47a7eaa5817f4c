"""The Examples sections of the public docstrings run as written."""

import doctest
import importlib

import pytest


@pytest.mark.parametrize(
    "module",
    ["modcore.cluster", "modcore.graph", "modcore.significance", "modcore.io", "modcore.weights",
     "modcore.plot", "modcore.report", "modcore.analysis", "modcore.stability"],
)
def test_docstring_examples(module):
    if module in ("modcore.plot", "modcore.report"):
        pytest.importorskip("matplotlib")
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    if module != "modcore.io":
        assert result.attempted > 0
