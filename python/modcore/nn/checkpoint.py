"""Checkpoints of :class:`~modcore.nn.MLP` models.

A checkpoint is a ``.pt`` file holding only tensors and plain Python values (a
state dict, the architecture and a metadata dict), so it loads with
``torch.load(path, weights_only=True)``: no pickled code runs when reading one.
:func:`modcore.weights_from_module` reads the same files.
"""

from __future__ import annotations

import numbers
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn.utils import prune as torch_prune

from ..weights import load_torch_file
from .models import MLP, linear_layers
from .prune import layer_sparsity

__all__ = ["Checkpoint", "save", "load"]

FORMAT = "modcore-mlp"
VERSION = 1


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint.

    Attributes
    ----------
    model : MLP
        Rebuilt from ``widths`` and ``dropout`` with the saved weights, in eval mode.
    widths : tuple of int
    dropout : float
    sparsity : list of float
        Fraction of zero weights per Linear layer when saved.
    metadata : dict
        What was passed to :func:`save`, e.g. ``dataset``, ``test_accuracy``.
    """

    model: MLP
    widths: tuple
    dropout: float
    sparsity: list
    metadata: dict


def save(model: MLP, path, metadata: dict | None = None) -> None:
    """Save ``model`` with its architecture, per-layer sparsity and ``metadata``.

    Parameters
    ----------
    model : MLP
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
        If ``model`` is not an :class:`MLP`.
    ValueError
        If the model still has pruning masks or ``metadata`` holds other values.

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "mlp.pt")
    >>> save(MLP([4, 3, 2], seed=0), path, {"dataset": "line"})
    >>> load(path).metadata
    {'dataset': 'line'}
    """
    if not isinstance(model, MLP):
        raise TypeError(f"save expects a modcore.nn.MLP, got {type(model).__name__}")
    if any(torch_prune.is_pruned(layer) for layer in linear_layers(model)):
        raise ValueError(
            "model still has pruning masks; fold them first with modcore.nn.remove_masks(model)"
        )
    metadata = _to_plain(dict(metadata or {}), "metadata")
    torch.save(
        {
            "format": FORMAT,
            "version": VERSION,
            "widths": list(model.widths),
            "dropout": model.dropout,
            "sparsity": layer_sparsity(model),
            "metadata": metadata,
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        },
        os.fspath(path),
    )


def load(path) -> Checkpoint:
    """Load a checkpoint written by :func:`save`, without running pickled code.

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
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path}: not a modcore checkpoint (no format={FORMAT!r} entry)")
    if payload.get("version") != VERSION:
        raise ValueError(
            f"{path}: checkpoint version {payload.get('version')!r}, this modcore reads {VERSION}"
        )
    model = MLP(payload["widths"], payload["dropout"])
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise ValueError(
            f"{path}: weights do not match widths {payload['widths']} ({exc})"
        ) from exc
    model.eval()
    return Checkpoint(
        model=model,
        widths=tuple(payload["widths"]),
        dropout=payload["dropout"],
        sparsity=payload["sparsity"],
        metadata=payload["metadata"],
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
