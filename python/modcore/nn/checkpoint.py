"""Checkpoints of :class:`~modcore.nn.MLP` and :class:`~modcore.nn.CNN` models.

A checkpoint is a ``.pt`` file holding only tensors and plain Python values (a
state dict, the architecture's name and constructor arguments, and a metadata
dict), so it loads with ``torch.load(path, weights_only=True)``: no pickled
code runs when reading one. :func:`modcore.weights_from_module` reads the MLP
ones.
"""

from __future__ import annotations

import numbers
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from ..common.types import PathLike
from ..network.torch_files import load_torch_file
from .models import CNN, MLP, weight_layers
from .prune import layer_sparsity

__all__ = ["ARCHITECTURES", "Checkpoint", "save", "load"]

FORMAT = "modcore-model"
VERSION = 1
# What a checkpoint's "arch" names: the model is rebuilt as ARCHITECTURES[arch](**config).
ARCHITECTURES = {"mlp": MLP, "cnn": CNN}
# Parameters and buffers a checkpoint's config may ask for (the saved tensors must
# hold them all anyway; this bounds what a hand-edited config can make modcore build).
MAX_PARAMETERS = 2**31
# The first format, MLPs only ("widths" and "dropout" at the top level): still read.
_MLP_FORMAT = "modcore-mlp"


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint.

    Attributes
    ----------
    model : MLP or CNN
        Rebuilt from ``arch`` and ``config`` with the saved weights, in eval mode.
    arch : str
        ``"mlp"`` or ``"cnn"`` (a key of :data:`ARCHITECTURES`).
    config : dict
        The model's constructor arguments, e.g. ``{"widths": [784, 256, 10],
        "dropout": 0.0}`` (``model.config``).
    sparsity : list of float
        Fraction of zero weights per Linear and Conv layer when saved.
    metadata : dict
        What was passed to :func:`save`, e.g. ``dataset``, ``test_accuracy``.
    """

    model: MLP | CNN
    arch: str
    config: dict
    sparsity: list
    metadata: dict


def save(model: nn.Module, path: PathLike, metadata: dict | None = None) -> None:
    """Save ``model`` with its architecture, per-layer sparsity and ``metadata``.

    The file is written next to ``path`` and moved into place, so a stopped
    run never leaves half a checkpoint.

    Parameters
    ----------
    model : MLP or CNN
        With its pruning masks already folded (as :func:`~modcore.nn.train` leaves it).
    path : str or path-like
        Destination, conventionally ending in ``.pt``.
    metadata : dict, optional
        Plain values only (str, numbers, bool, None, and lists, tuples and
        str-keyed dicts of them), e.g. ``{"dataset": "fashion", "test_accuracy": 0.88}``;
        numpy scalars are converted, tuples become lists. Anything else would
        not load with ``weights_only=True``.

    Raises
    ------
    TypeError
        If ``model`` is not an :class:`MLP` or a :class:`CNN`.
    ValueError
        If the model still has pruning masks or ``metadata`` holds other values.

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "cnn.pt")
    >>> save(CNN(channels=(4,), pool_after=(True,), seed=0), path, {"dataset": "line"})
    >>> ck = load(path)
    >>> ck.arch, ck.config["channels"], ck.metadata
    ('cnn', [4], {'dataset': 'line'})
    """
    arch = next((name for name, cls in ARCHITECTURES.items() if isinstance(model, cls)), None)
    if arch is None:
        raise TypeError(
            f"save expects a modcore.nn.MLP or modcore.nn.CNN, got {type(model).__name__}"
        )
    if any(torch_prune.is_pruned(layer) for layer in weight_layers(model)):
        raise ValueError(
            "model still has pruning masks; fold them first with modcore.nn.remove_masks(model)"
        )
    metadata = _to_plain(dict(metadata or {}), "metadata")
    path = os.fspath(path)
    partial = f"{path}.partial"
    torch.save(
        {
            "format": FORMAT,
            "version": VERSION,
            "arch": arch,
            "config": model.config,
            "sparsity": layer_sparsity(model),
            "metadata": metadata,
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        },
        partial,
    )
    os.replace(partial, path)


def load(path: PathLike) -> Checkpoint:
    """Load a checkpoint written by :func:`save`, without running pickled code.

    Also reads the first format (``"modcore-mlp"``, MLPs only).

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    Checkpoint

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a readable modcore checkpoint; the message names the
        file and the reason.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    payload = load_torch_file(path)
    if not isinstance(payload, dict) or payload.get("format") not in (FORMAT, _MLP_FORMAT):
        raise ValueError(f"{path}: not a modcore checkpoint (no format={FORMAT!r} entry)")
    if payload.get("version") != VERSION:
        raise ValueError(
            f"{path}: checkpoint version {payload.get('version')!r}, this modcore reads {VERSION}"
        )
    arch: Any  # read from the file, checked below
    config: Any
    if payload["format"] == _MLP_FORMAT:
        arch, config = "mlp", {"widths": payload.get("widths"), "dropout": payload.get("dropout")}
    else:
        arch, config = payload.get("arch"), payload.get("config")
    if arch not in ARCHITECTURES or not isinstance(config, dict):
        raise ValueError(
            f"{path}: architecture {arch!r} with config {config!r}; expected one of "
            f"{sorted(ARCHITECTURES)} and a dict of its arguments"
        )
    _check_config(path, arch, config, payload.get("state_dict"))
    return _built(
        path,
        arch,
        config,
        payload["state_dict"],
        sparsity=payload.get("sparsity"),
        metadata=payload.get("metadata", {}),
    )


def _built(path, arch: str, config: dict, state: dict, *, sparsity, metadata) -> Checkpoint:
    """The :class:`Checkpoint` of a file (checkpoint or record) whose config and tensors
    :func:`_check_config` passed: the model built, ``state`` loaded, in eval mode."""
    try:
        model = ARCHITECTURES[arch](**config)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: cannot build a {arch} from {config} ({exc})") from exc
    try:
        model.load_state_dict(state)
    except (KeyError, RuntimeError) as exc:
        raise ValueError(f"{path}: weights do not match the {arch} {config} ({exc})") from exc
    model.eval()
    return Checkpoint(
        model=model,
        arch=arch,
        config=model.config,
        # Files of the first format did not store it: the loaded weights are the saved ones.
        sparsity=sparsity or layer_sparsity(model),
        metadata=metadata,
    )


def _check_config(path, arch: str, config: dict, state) -> None:
    """The saved config against the saved tensors, before any real model is built: the
    model is built on the meta device (shapes, no memory), and every parameter and
    buffer must be in ``state`` with its shape; at most MAX_PARAMETERS values."""
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ValueError(f"{path}: its state_dict entry is not a dict of named tensors")
    try:
        with torch.device("meta"):
            skeleton = ARCHITECTURES[arch](**config)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{path}: cannot build a {arch} from {config} ({exc})") from exc
    expected = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    size = sum(int(np.prod(shape)) for shape in expected.values())
    if size > MAX_PARAMETERS:
        raise ValueError(
            f"{path}: its config {config} asks for {size} parameters, more than the "
            f"{MAX_PARAMETERS} a checkpoint may hold"
        )
    saved = {k: tuple(v.shape) for k, v in state.items()}
    missing = sorted(set(expected) - set(saved))
    unexpected = sorted(set(saved) - set(expected))
    wrong = [k for k in expected if k in saved and saved[k] != expected[k]]
    if missing or unexpected or wrong:
        what = (
            [f"missing {k} {expected[k]}" for k in missing[:3]]
            + [f"unexpected {k} {saved[k]}" for k in unexpected[:3]]
            + [f"{k} saved {saved[k]}, config needs {expected[k]}" for k in wrong[:3]]
        )
        raise ValueError(
            f"{path}: the saved weights do not match its config {config}: "
            f"{'; '.join(what)}. The file is damaged or was edited; nothing was built"
        )


def _to_plain(value, where: str):
    """A copy of ``value`` made of builtin types only (numpy scalars become int/float)."""
    if value is None:
        return None
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_to_plain(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, dict):
        plain = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(
                    f"{where} has a key {key!r} of type {type(key).__name__}; use str keys"
                )
            plain[key] = _to_plain(item, f"{where}[{key!r}]")
        return plain
    raise ValueError(
        f"{where} is a {type(value).__name__}; checkpoints keep only plain values "
        "(str, numbers, bool, None, lists and dicts of them)"
    )
