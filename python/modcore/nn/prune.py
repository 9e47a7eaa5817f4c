"""Gradual magnitude pruning on the polynomial-decay schedule of Zhu & Gupta (2017).

Masks live in ``torch.nn.utils.prune``'s reparametrisation (``weight_orig`` times
``weight_mask``), so pruned weights stay at zero while the rest fine-tune;
:func:`remove_masks` folds them into plain weights with exact zeros.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from .models import weight_layers

__all__ = ["PruneSchedule", "prune_to_sparsity", "remove_masks", "layer_sparsity"]


@dataclass(frozen=True)
class PruneSchedule:
    """Polynomial-decay sparsity schedule (Zhu & Gupta, 2017).

    At step ``t`` in ``[begin_step, end_step]`` the target sparsity is
    ``s_t = s_f + (s_i - s_f) * (1 - (t - begin_step) / (end_step - begin_step)) ** exponent``;
    it is ``final_sparsity`` after ``end_step`` and 0 (no pruning) before
    ``begin_step``. Masks are updated on steps ``begin_step + k * frequency`` up to
    ``end_step``. Steps count optimizer steps from the start of the training call
    that prunes, starting at 0.

    Parameters
    ----------
    end_step : int
        Step at which ``final_sparsity`` is reached. The paper uses 20 epochs'
        worth of steps, ``20 * ceil(n_train / batch_size)``.
    initial_sparsity : float, default 0.5
        Sparsity applied at ``begin_step``.
    final_sparsity : float, default 0.9
        Sparsity reached at ``end_step``.
    begin_step : int, default 0
        First step that prunes.
    frequency : int, default 10
        Steps between mask updates.
    exponent : float, default 3
        Power of the decay; 3 is the paper's cubic schedule.

    Raises
    ------
    ValueError
        If the sparsities are not ``0 <= initial <= final <= 1``, the steps are
        not ``0 <= begin_step < end_step``, or ``frequency`` or ``exponent`` is
        not positive.

    Examples
    --------
    >>> s = PruneSchedule(end_step=100)
    >>> s.sparsity(0), s.sparsity(50), s.sparsity(100)
    (0.5, 0.85, 0.9)
    """

    end_step: int
    initial_sparsity: float = 0.5
    final_sparsity: float = 0.9
    begin_step: int = 0
    frequency: int = 10
    exponent: float = 3

    def __post_init__(self):
        if not 0.0 <= self.initial_sparsity <= self.final_sparsity <= 1.0:
            raise ValueError(
                "expected 0 <= initial_sparsity <= final_sparsity <= 1, got "
                f"initial_sparsity={self.initial_sparsity}, final_sparsity={self.final_sparsity}"
            )
        for name in ("begin_step", "end_step", "frequency"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or isinstance(value, bool):
                raise ValueError(f"{name} must be an integer, got {value!r}")
        if not 0 <= self.begin_step < self.end_step:
            raise ValueError(
                f"expected 0 <= begin_step < end_step, got begin_step={self.begin_step}, "
                f"end_step={self.end_step}"
            )
        if self.frequency < 1:
            raise ValueError(f"frequency must be >= 1, got {self.frequency}")
        if not self.exponent > 0:
            raise ValueError(f"exponent must be > 0, got {self.exponent}")

    def sparsity(self, step: int) -> float:
        """Target sparsity at ``step`` (0 before ``begin_step``)."""
        if step < self.begin_step:
            return 0.0
        progress = (min(step, self.end_step) - self.begin_step) / (self.end_step - self.begin_step)
        return (
            self.final_sparsity
            + (self.initial_sparsity - self.final_sparsity) * (1.0 - progress) ** self.exponent
        )

    def is_update_step(self, step: int) -> bool:
        """Whether masks are recomputed before optimizer step ``step``."""
        return (
            self.begin_step <= step <= self.end_step
            and (step - self.begin_step) % self.frequency == 0
        )


def prune_to_sparsity(model: nn.Module, sparsity: float) -> None:
    """Mask the smallest-magnitude weights of every Linear and Conv layer, layer by layer.

    Each layer ends with exactly ``round(sparsity * weight.numel())`` masked
    weights (for a convolution, ranked over its whole kernel tensor). Weights
    already masked stay masked: only the increment is chosen, by magnitude
    among the unmasked weights, as ``torch.nn.utils.prune`` does when a layer
    is pruned again.

    Parameters
    ----------
    model : torch.nn.Module
        Its ``nn.Linear`` and ``nn.Conv1d/2d/3d`` submodules
        (:func:`~modcore.nn.weight_layers`) are pruned; biases are left alone.
    sparsity : float
        Fraction of each weight tensor to mask, in ``[0, 1]``.

    Raises
    ------
    ValueError
        If ``sparsity`` is outside ``[0, 1]`` or a layer already has more masked
        weights than asked for (masks can only grow).

    Examples
    --------
    >>> from modcore.nn import CNN
    >>> model = CNN(channels=(4, 4), pool_after=(True, True), dense=(8,), seed=0)
    >>> prune_to_sparsity(model, 0.5)
    >>> remove_masks(model)
    >>> layer_sparsity(model)
    [0.5, 0.5, 0.5, 0.5]
    """
    if not 0.0 <= sparsity <= 1.0:
        raise ValueError(f"sparsity must be in [0, 1], got {sparsity}")
    for i, layer in enumerate(weight_layers(model)):
        n_zeros = round(sparsity * layer.weight.numel())
        if not torch_prune.is_pruned(layer):
            torch_prune.l1_unstructured(layer, "weight", amount=n_zeros)
            continue
        n_masked = int((layer.get_buffer("weight_mask") == 0).sum())
        if n_zeros < n_masked:
            raise ValueError(
                f"{type(layer).__name__} layer {i} already has {n_masked} masked weights; "
                f"cannot lower it to {n_zeros} (sparsity {sparsity})"
            )
        if n_zeros > n_masked:
            torch_prune.l1_unstructured(layer, "weight", amount=n_zeros - n_masked)


def remove_masks(model: nn.Module) -> None:
    """Fold pruning masks into the weights of every pruned Linear and Conv layer.

    Afterwards ``weight`` is a plain parameter whose pruned entries are exact
    zeros, and the state dict has no ``weight_orig`` / ``weight_mask`` keys.
    """
    for layer in weight_layers(model):
        if torch_prune.is_pruned(layer):
            torch_prune.remove(layer, "weight")


def layer_sparsity(model: nn.Module) -> list[float]:
    """Fraction of exactly-zero weights in each Linear and Conv layer, in order."""
    with torch.no_grad():
        return [float((layer.weight == 0).float().mean()) for layer in weight_layers(model)]
