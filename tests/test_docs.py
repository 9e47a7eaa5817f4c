"""The Examples sections of the public docstrings run as written."""

import doctest
import importlib

import pytest


@pytest.mark.parametrize(
    "module",
    [
        "modcore.cluster",
        "modcore.graph",
        "modcore.network",
        "modcore.significance",
        "modcore.io",
        "modcore.weights",
        "modcore.plot",
        "modcore.report",
        "modcore.verdict",
        "modcore.progress",
        "modcore.analysis",
        "modcore.stability",
        "modcore.multiple_testing",
    ],
)
def test_docstring_examples(module):
    if module in ("modcore.plot", "modcore.report"):
        pytest.importorskip("matplotlib")
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    if module != "modcore.io":
        assert result.attempted > 0


@pytest.mark.parametrize(
    "module",
    [
        "modcore.nn.models",
        "modcore.nn.prune",
        "modcore.nn.train",
        "modcore.nn.checkpoint",
        "modcore.nn.datasets",
        "modcore.nn.lesion.masks",
        "modcore.nn.lesion.evaluate",
        "modcore.nn.lesion.study",
        "modcore.nn.lesion.rules",
        "modcore.nn.lesion.network_level",
        "modcore.report_functional",
        "modcore.transformer",
    ],
)
def test_torch_docstring_examples(module, torch_one_thread):
    if module == "modcore.report_functional":
        pytest.importorskip("matplotlib")
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
