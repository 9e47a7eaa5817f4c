"""The state of a training between two epochs, so that a stopped training resumes exactly.

A state file is what :func:`~modcore.nn.train` and :func:`~modcore.nn.paper_recipe`
write after every epoch when given ``state=``: the model's state dict (with the
pruning reparametrisation, ``weight_orig`` and ``weight_mask``, while pruning),
the optimizer's state, the batch-order generator's and torch's RNG states (dropout
draws from the latter), the step count of the pruning schedule, the history so far,
and the recipe it belongs to. Only tensors and plain values: it loads with
``torch.load(path, weights_only=True)``, so no pickled code runs. Written to a
temporary file and moved into place, so it is always the state after some whole epoch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..common.files import atomic_write
from ..common.types import PathLike
from ..network.torch_files import load_torch_file

__all__ = ["FORMAT", "VERSION", "save_state", "load_state"]

FORMAT = "modcore-training-state"
VERSION = 1
# Keys of a state and the types their values must have once loaded.
_KEYS: dict[str, Any] = {
    "recipe": list,
    "phase": int,
    "epoch": int,
    "step": int,
    "model": dict,
    "optimizer": dict,
    "generator": torch.Tensor,
    "torch_rng": torch.Tensor,
    "history": dict,
    "earlier": dict,
}


def save_state(path: PathLike, state: dict) -> None:
    """Write ``state`` (the keys of ``_KEYS``, optionally ``cuda_rng``) to ``path`` atomically."""
    missing = set(_KEYS) - set(state)
    if missing:
        raise ValueError(f"a training state needs {sorted(missing)}")
    with atomic_write(path, "wb") as f:
        torch.save({"format": FORMAT, "version": VERSION, **state}, f)


def load_state(path: PathLike, recipe: list) -> dict:
    """The state saved at ``path`` by a training of ``recipe``, without running pickled code.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save_state`.
    recipe : list of dict
        The training's phases as plain values; the state must have been saved by a
        training of exactly this recipe.

    Returns
    -------
    dict
        The saved state, tensors on the CPU.

    Raises
    ------
    ValueError
        If the file is not a readable training state (the message names the file
        and the reason) or was saved by a training of another recipe.
    """
    path = Path(path)
    payload = load_torch_file(path)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path}: not a modcore training state (no format={FORMAT!r} entry)")
    if payload.get("version") != VERSION:
        raise ValueError(
            f"{path}: training state version {payload.get('version')!r}, this modcore reads "
            f"{VERSION}"
        )
    for key, kind in _KEYS.items():
        if not isinstance(payload.get(key), kind):
            raise ValueError(f"{path}: the training state's {key!r} is not a {kind.__name__}")
    if payload["recipe"] != recipe:
        raise ValueError(
            f"{path} is the state of another training ({payload['recipe']}; now {recipe}): "
            "delete it to start that training over"
        )
    if not 0 <= payload["phase"] < len(recipe) or not (
        0 <= payload["epoch"] <= recipe[payload["phase"]]["epochs"]
    ):
        raise ValueError(
            f"{path}: phase {payload['phase']}, epoch {payload['epoch']} is outside the recipe"
        )
    return payload
