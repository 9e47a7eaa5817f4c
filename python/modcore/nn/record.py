"""Checkpoints as kept in a committed record: safetensors, float16 by default.

A reproduction's own checkpoints (:mod:`modcore.nn.checkpoint`, ``.pt``) hold float32
weights, and its rows are computed from those. The record committed with the results
(``results/cnn/checkpoints/*.safetensors``) keeps them at half the size in float16 by
default: every weight rounded to 11 significant bits (relative error below 2**-11;
zeros stay zeros, so sparsity and the graph's edges are kept), enough to look at a
network or to recluster it, where n-cuts can move a little (the authors' k-means rule
more than modcore's default). The architecture, its arguments and the metadata travel in
the safetensors header as JSON, so a file loads without running any code.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..common.files import atomic_write, json_text
from ..common.types import PathLike
from .checkpoint import ARCHITECTURES, FORMAT, Checkpoint, _built, _check_config

__all__ = ["DTYPES", "save", "load"]

DTYPES = {"float16": torch.float16, "float32": torch.float32}


def save(saved: Checkpoint, path: PathLike, *, dtype: str = "float16") -> None:
    """Write the checkpoint ``saved`` (as :func:`modcore.nn.checkpoint.load` returns it)
    to ``path`` as safetensors, its floating-point tensors in ``dtype``, atomically.

    Raises
    ------
    ValueError
        If ``dtype`` is not one of :data:`DTYPES`.
    """
    from safetensors.torch import save

    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    tensors = {
        key: (value.to(DTYPES[dtype]) if value.is_floating_point() else value).contiguous()
        for key, value in saved.model.state_dict().items()
    }
    header = {
        "format": FORMAT,
        "arch": saved.arch,
        "config": json_text(saved.config),
        "sparsity": json_text(saved.sparsity),
        "metadata": json_text(saved.metadata),
        "dtype": dtype,
    }
    with atomic_write(path, "wb") as f:
        f.write(save(tensors, metadata=header))


def load(path: PathLike) -> Checkpoint:
    """A record written by :func:`save`, as a :class:`~modcore.nn.checkpoint.Checkpoint`
    whose model has float32 weights (the saved values, widened exactly).

    Raises
    ------
    ValueError
        If the file is not such a record; the message names the file and the reason.
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
        tensors = load_file(str(path))
        arch = header.get("arch")
        config = json.loads(header.get("config", "null"))
        metadata = json.loads(header.get("metadata", "{}"))
    except Exception as exc:  # safetensors' own error types, OSError, JSON errors
        raise ValueError(f"{path}: not a readable record ({type(exc).__name__}: {exc})") from exc
    if header.get("format") != FORMAT or arch not in ARCHITECTURES or not isinstance(config, dict):
        raise ValueError(f"{path}: not a modcore checkpoint record (format, arch or config)")
    # The same check as a checkpoint's, before anything real is built: a record whose
    # config asks for huge layers must not allocate them.
    _check_config(path, arch, config, tensors)
    return _built(
        path,
        arch,
        config,
        {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()},
        sparsity=None,
        metadata=metadata if isinstance(metadata, dict) else {},
    )
