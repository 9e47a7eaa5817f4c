"""``--model pkg.module:factory --weights state.pt``: the user's own model, built by
their own code and filled with a state dict read without running code from the file."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

from .options import UsageError

__all__ = ["MODEL_HELP", "WEIGHTS_HELP", "model_from_factory"]

MODEL_HELP = (
    "your model's factory, as module:function (e.g. mypkg.models:make_cnn), called with no "
    "arguments to build the model that --weights fills; for CNNs and other models a state "
    "dict alone cannot describe. This imports and runs YOUR code (the module is found as "
    "Python finds it: the current folder, then PYTHONPATH): name only code you trust"
)
WEIGHTS_HELP = (
    "with --model: the model's state dict (torch.save(model.state_dict())), read with "
    "torch.load(weights_only=True), so no code in the file runs"
)


def model_from_factory(spec: str, weights: Path | None):
    """The torch model ``spec`` ("module:function") builds, with ``weights`` loaded
    (strictly: every key of the model, no other)."""
    module_name, sep, function_name = spec.partition(":")
    if not sep or not module_name or not function_name.isidentifier():
        raise UsageError(f"--model {spec}: expected module:function, e.g. mypkg.models:make_cnn")
    if weights is None:
        raise UsageError(
            f"--model {spec} needs --weights: the state dict that fills the model "
            "(torch.save(model.state_dict(), 'state.pt'))"
        )
    if not weights.is_file():
        raise UsageError(f"--weights {weights}: no such file")
    try:
        import torch
    except ImportError as exc:
        raise UsageError("--model needs torch: pip install 'modcore[torch]'") from exc
    from ..network.torch_files import load_torch_file

    state = load_torch_file(weights)  # before the user's code runs: a bad file fails first
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UsageError(
            f"--weights {weights}: not a state dict (a dict of tensors, as "
            "model.state_dict() returns)"
        )
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:  # the console script does not look in the current folder; `python -m` does
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"--model {spec}: cannot import {module_name}: {exc}") from exc
    finally:
        if added:
            sys.path.remove(cwd)
    factory = getattr(module, function_name, None)
    if not callable(factory):
        raise UsageError(f"--model {spec}: {module_name} has no function {function_name}")
    model = factory()
    if not isinstance(model, torch.nn.Module):
        raise UsageError(
            f"--model {spec}: {function_name}() returned a {type(model).__name__}, "
            "expected a torch.nn.Module"
        )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()
        detail = " ".join(line.strip() for line in first[:3])
        raise UsageError(
            f"--weights {weights} does not fit the model {spec} builds: {detail}"
        ) from exc
    return model
