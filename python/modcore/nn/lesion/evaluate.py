"""Accuracy under lesions, overall and per class, many lesions per forward pass.

Lesions on the same set of groups are evaluated together: their masks join the
batch dimension (``n_masks * n_examples`` rows, mask-major; see
:func:`~modcore.nn.lesion.masks._apply_mask`), so one forward pass serves many
lesions, for Linear and convolution layers alike. In an ``nn.Sequential`` model
(the papers' MLP and CNN) the layers up to the first lesioned group run once
per chunk of examples, and only the rest runs per mask. Lesions of the last
hidden layer alone, read only by the output Linear, apply each mask to that
Linear's weight columns instead (the products of a zeroed copy, without masking
``n_masks x n_examples x width`` activations). Every logit is the same sum of
the same products as in a copy of the model with the lesioned units' outgoing
weights zeroed, so the predictions are that copy's (tested).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ...common.progress import Progress
from ...common.types import ProgressLike
from ..datasets import Dataset, examples_of
from .masks import _apply_mask, _check_lesion, _hooks, _MaskState
from .units import LesionUnits, lesion_units

if TYPE_CHECKING:
    from .transformer import TransformerUnits

__all__ = ["lesion_accuracy"]

# Floats in one activation tensor of a batched pass (n_masks x n_examples x width):
# 4 MB, e.g. 4096 rows x 256, where the CPU matrix products ran fastest (larger
# blocks fall out of cache: 32768 rows were 20 % slower per row).
_CHUNK_FLOATS = 1 << 20


def _units_for_data(model: nn.Module, x: torch.Tensor) -> LesionUnits:
    """The model's groups, traced on the data's own input shape (checked against it)."""
    declared = getattr(model, "input_shape", None)
    got = tuple(x.shape[1:])
    if declared is not None and tuple(declared) != got:
        if len(got) == len(declared) == 1:
            raise ValueError(
                f"data has {got[0]} features but the network takes {declared[0]} inputs"
            )
        raise ValueError(
            f"data has inputs of shape {got} but the network takes "
            f"{tuple(declared)} (one example's shape; load images with "
            "flatten=False for a CNN)"
        )
    return lesion_units(model, example=_example(x))


def _example(x: torch.Tensor) -> torch.Tensor:
    """A batch of two examples to trace with (two: a batch of one could be squeezed away)."""
    return x[:2] if len(x) > 1 else x.expand(2, *x.shape[1:])


def _check_targets(y: torch.Tensor, units: LesionUnits | TransformerUnits) -> int:
    n_classes = units.n_outputs
    if int(y.min()) < 0 or int(y.max()) >= n_classes:
        raise ValueError(
            f"labels must be in 0..{n_classes - 1} (the network has {n_classes} outputs), "
            f"got {int(y.min())}..{int(y.max())}"
        )
    return n_classes


def class_accuracy(counts: np.ndarray, class_sizes: np.ndarray) -> np.ndarray:
    """Correct counts per class (last axis) over the test examples of each class;
    NaN for a class with no test example."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(class_sizes > 0, counts / np.maximum(class_sizes, 1), np.nan)


def lesion_accuracy(
    model: nn.Module,
    data: Dataset | tuple[Any, Any],
    lesions: Mapping | Sequence[Mapping],
    *,
    per_class: bool = False,
    progress: ProgressLike = None,
) -> float | np.ndarray:
    """Test accuracy of ``model`` with one lesion, or with each of many (batched).

    Parameters
    ----------
    model : torch.nn.Module
        An MLP, a CNN, or any model :func:`modcore.network.torch.trace.network_from_module`
        reads; evaluated in eval mode (its mode is restored afterwards).
    data : Dataset or (x, y)
        A :class:`modcore.nn.Dataset` (its test split is used) or inputs
        ``(n, *input_shape)`` and labels.
    lesions : mapping or list of mappings
        ``{group: unit indices}`` (for an MLP, group 1 is the first hidden
        layer). Lesions on the same set of groups are evaluated together, many
        per forward pass.
    per_class : bool, default False
        Return each class's accuracy (correct / test examples of that class;
        NaN for a class without test examples) instead of the overall one.
    progress : None, bool or callable, default None
        Count evaluated lesions on stderr: None when stderr is a terminal, True /
        False to force; a callable gets ``(done, total)``.

    Returns
    -------
    float or float array
        Overall: a float, or shape ``(len(lesions),)``. Per class: shape
        ``(n_classes,)``, or ``(len(lesions), n_classes)``.

    Examples
    --------
    >>> import torch
    >>> from modcore.nn import MLP
    >>> model = MLP([3, 4, 2], seed=0)
    >>> x, y = torch.rand(8, 3), torch.zeros(8, dtype=torch.long)
    >>> lesion_accuracy(model, (x, y), [{1: [0]}, {1: [1, 2]}]).shape
    (2,)
    >>> lesion_accuracy(model, (x, y), {1: [0]}, per_class=True).shape
    (2,)
    """
    x, y = examples_of(data)
    units = _units_for_data(model, x)
    n_classes = _check_targets(y, units)
    single = isinstance(lesions, Mapping)
    checked = [_check_lesion(les, units) for les in ([lesions] if single else lesions)]
    if not checked:
        raise ValueError("no lesions given")
    with (
        _eval_mode(model),
        Progress(len(checked), "lesion_accuracy", progress, unit="lesions") as reporter,
    ):
        counts = _evaluate(model, units, x, y, checked, n_classes, reporter)
    if per_class:
        acc = class_accuracy(counts, np.bincount(y.numpy(), minlength=n_classes))
    else:
        acc = counts.sum(axis=1) / len(y)
    return acc[0] if single and per_class else (float(acc[0]) if single else acc)


@contextmanager
def _eval_mode(model):
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _per_class(pred: torch.Tensor, y: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Correct predictions per class: ``pred`` (m, n) against ``y`` (n,) -> (m, n_classes)."""
    correct = (pred == y).long()
    out = torch.zeros(pred.shape[0], n_classes, dtype=torch.int64, device=pred.device)
    return out.index_add_(1, y, correct)


@torch.no_grad()
def _plain_counts(model, units, x, y, n_classes: int) -> np.ndarray:
    """Per-class correct counts of the intact model."""
    if not isinstance(units, LesionUnits):  # a transformer's MLP neurons
        return units.counts(model, x, y, [{}], n_classes, None)[0]
    device = next(model.parameters()).device
    step = max(1, _CHUNK_FLOATS // units.widest)
    counts = torch.zeros(1, n_classes, dtype=torch.int64, device=device)
    for start in range(0, len(y), step):
        logits = model(x[start : start + step].to(device))
        counts += _per_class(
            logits.argmax(dim=-1)[None], y[start : start + step].to(device), n_classes
        )
    return counts[0].cpu().numpy()


@torch.no_grad()
def _evaluate(model, units, x, y, lesions: list, n_classes: int, reporter=None) -> np.ndarray:
    """Per-class correct counts (int64, shape (len(lesions), n_classes)) of checked
    lesions, batched by the set of groups they touch."""
    if not isinstance(units, LesionUnits):  # a transformer's MLP neurons
        return units.counts(model, x, y, lesions, n_classes, reporter)
    counts = np.zeros((len(lesions), n_classes), dtype=np.int64)
    batches: dict[tuple[int, ...], list[int]] = {}
    for i, lesion in enumerate(lesions):
        batches.setdefault(tuple(lesion), []).append(i)
    for groups, rows in batches.items():
        masks = {}
        for g in groups:
            mask = torch.ones(len(rows), units.sizes[g])
            for r, i in enumerate(rows):
                mask[r, torch.as_tensor(lesions[i][g])] = 0
            masks[g] = mask
        counts[rows] = _masked_counts(model, units, x, y, masks, n_classes, reporter)
    return counts


def _split(model: nn.Module, units: LesionUnits, group: int):
    """(prefix, suffix) of an nn.Sequential around the group's emitter; None otherwise."""
    index = units.sequential_index.get(group)
    if index is None:
        return None
    children = list(model.children())
    return nn.Sequential(*children[: index + 1]), nn.Sequential(*children[index + 1 :])


@torch.no_grad()
def _masked_counts(model, units, x, y, masks: dict, n_classes: int, reporter=None) -> np.ndarray:
    """Per-class counts for a batch of masks: ``masks[group]`` of shape (n_masks, width)."""
    param = next(model.parameters())
    device, dtype = param.device, param.dtype
    groups = sorted(masks)  # groups are numbered in order of computation
    first = groups[0]
    n_masks = masks[first].shape[0]
    n = len(y)
    split = _split(model, units, first)
    last_linear = (
        split is not None
        and len(groups) == 1
        and len(split[1]) == 1
        and isinstance(split[1][0], nn.Linear)
    )
    rows = max(1, _CHUNK_FLOATS // units.widest_after[first])
    n_chunk = min(n, max(256, rows // n_masks))
    if last_linear:  # one pass of the model, then one small product per mask
        n_chunk = min(n, max(256, 4 * _CHUNK_FLOATS // units.widest))
    m_chunk = max(1, rows // n_chunk)
    state = _MaskState()
    counts = torch.zeros(n_masks, n_classes, dtype=torch.int64, device=device)
    reported = 0
    masks = {g: m.to(device=device, dtype=dtype) for g, m in masks.items()}
    with _hooks(units, groups if split is None else groups[1:], state):
        for s in range(0, n, n_chunk):
            xs, ys = x[s : s + n_chunk].to(device), y[s : s + n_chunk].to(device)
            # Up to the first lesioned group, once per chunk of examples.
            h = split[0](xs) if split is not None else xs
            if last_linear:
                counts += _output_layer_counts(split[1][0], h, ys, masks[first], n_classes)
            else:
                for m0 in range(0, n_masks, m_chunk):
                    state.masks = {g: masks[g][m0 : m0 + m_chunk] for g in groups}
                    state.n = len(ys)
                    m = state.masks[first].shape[0]
                    if split is None:
                        logits = model(h)
                    else:
                        logits = split[1](_apply_mask(h, state.masks[first], state.n))
                    if logits.shape != (m * len(ys), n_classes):
                        raise ValueError(
                            f"{type(model).__name__} gave outputs of shape {tuple(logits.shape)} "
                            f"for {m} masks x {len(ys)} examples, expected "
                            f"({m * len(ys)}, {n_classes}): lesions need a classifier whose "
                            "outputs are (batch, classes)"
                        )
                    counts[m0 : m0 + m] += _per_class(
                        logits.argmax(dim=-1).reshape(m, len(ys)), ys, n_classes
                    )
            if reporter is not None:
                done = n_masks * (s + len(ys)) // n
                reporter.update(done - reported)
                reported = done
    return counts.cpu().numpy()


def _output_layer_counts(linear, h, y, masks, n_classes) -> torch.Tensor:
    """Counts for lesions of the last hidden layer, read only by the output layer.

    Masking the output layer's input columns there costs as much as the output
    layer itself (``n_masks x n x width`` multiplications before a product with
    few outputs), so each mask is applied to the weight's columns instead and the
    layer run once per mask: the very products of a copy with those columns
    zeroed, several times faster.
    """
    weight, bias = linear.weight, linear.bias
    counts = []
    for m0 in range(0, masks.shape[0], 64):  # bounds the predictions held at once
        preds = torch.stack(
            [
                torch.nn.functional.linear(h, weight * mask, bias).argmax(dim=-1)
                for mask in masks[m0 : m0 + 64]
            ]
        )
        counts.append(_per_class(preds, y, n_classes))
    return torch.cat(counts)
