"""The Examples sections of the public docstrings run as written."""

import doctest
import importlib

import pytest


@pytest.mark.parametrize(
    "module",
    [
        "modcore.method.cluster",
        "modcore.method.score",
        "modcore.network.network",
        "modcore.method.significance",
        "modcore.network.checks",
        "modcore.network.weights",
        "modcore.report.plot",
        "modcore.report.html",
        "modcore.report.verdict",
        "modcore.common.progress",
        "modcore.method.analysis",
        "modcore.method.stability",
        "modcore.method.multiple_testing",
    ],
)
def test_docstring_examples(module):
    if module in ("modcore.report.plot", "modcore.report.html"):
        pytest.importorskip("matplotlib")
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    if module != "modcore.network.checks":
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
        "modcore.report.functional",
    ],
)
def test_torch_docstring_examples(module, torch_one_thread):
    if module == "modcore.report.functional":
        pytest.importorskip("matplotlib")
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
