"""Accuracy under lesions, many lesions per forward pass.

The activations before the first lesioned layer are computed once; the masks
then run through the rest of the network as an extra leading batch dimension
(see :mod:`modcore.nn.lesion` for why the counts equal those of zeroed copies).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from ...progress import Progress
from ..models import linear_layers
from .masks import _check_lesion, _hooks, _network_widths

__all__ = ["lesion_accuracy"]

# Floats in one activation tensor of a batched pass (n_masks x n_examples x width):
# 4 MB, e.g. 4096 rows x 256, where the CPU matrix products ran fastest (larger
# blocks fall out of cache: 32768 rows were 20 % slower per row).
_CHUNK_FLOATS = 1 << 20


def _test_data(data):
    """(x, y) tensors from a Dataset (its test split) or an (x, y) pair."""
    if hasattr(data, "x_test") and hasattr(data, "y_test"):
        x, y = data.x_test, data.y_test
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        x, y = data
    else:
        raise TypeError(
            f"data must be a modcore.nn.Dataset or an (x, y) pair, got {type(data).__name__}"
        )
    x = torch.as_tensor(x)
    y = torch.as_tensor(y)
    if x.ndim != 2 or y.ndim != 1 or len(x) != len(y) or len(y) == 0:
        raise ValueError(
            f"expected inputs of shape (n, n_features) and n labels with n >= 1, got x "
            f"{tuple(x.shape)} and y {tuple(y.shape)}"
        )
    if not x.is_floating_point():
        x = x.float()
    return x, y.long()


def lesion_accuracy(model: nn.Module, data, lesions, *, progress=None):
    """Test accuracy of ``model`` with one lesion, or with each of many (batched).

    Parameters
    ----------
    model : torch.nn.Module
        An MLP; evaluated in eval mode (its mode is restored afterwards).
    data : Dataset or (x, y)
        A :class:`modcore.nn.Dataset` (its test split is used) or inputs and labels.
    lesions : mapping or list of mappings
        ``{hidden layer: neuron indices}``. Lesions on the same set of layers
        are evaluated together, many per forward pass.
    progress : None, bool or callable, default None
        Count evaluated lesions on stderr: None when stderr is a terminal, True /
        False to force; a callable gets ``(done, total)``.

    Returns
    -------
    float, or float array of shape (len(lesions),)

    Examples
    --------
    >>> import torch
    >>> from modcore.nn import MLP
    >>> model = MLP([3, 4, 2], seed=0)
    >>> x, y = torch.rand(8, 3), torch.zeros(8, dtype=torch.long)
    >>> lesion_accuracy(model, (x, y), [{1: [0]}, {1: [1, 2]}]).shape
    (2,)
    """
    widths = _network_widths(model)
    x, y = _test_data(data)
    single = isinstance(lesions, Mapping)
    checked = [_check_lesion(les, widths) for les in ([lesions] if single else lesions)]
    if not checked:
        raise ValueError("no lesions given")
    with _eval_mode(model), Progress(len(checked), "lesion_accuracy", progress,
                                     unit="lesions") as reporter:
        counts = _evaluate(model, x, y, checked, widths, reporter)
    acc = counts / len(y)
    return float(acc[0]) if single else acc


@contextmanager
def _eval_mode(model):
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _split(model: nn.Module, target: nn.Module):
    """(prefix, suffix) of an nn.Sequential around ``target``; (None, model) otherwise."""
    if isinstance(model, nn.Sequential):
        children = list(model)
        for i, child in enumerate(children):
            if child is target:
                return (nn.Sequential(*children[:i]) if i else None), nn.Sequential(*children[i:])
    return None, model


@torch.no_grad()
def _plain_counts(model, x, y) -> int:
    device = next(model.parameters()).device
    step = max(1, _CHUNK_FLOATS // max(x.shape[1], 1))
    correct = 0
    for start in range(0, len(y), step):
        logits = model(x[start : start + step].to(device))
        correct += int((logits.argmax(dim=-1) == y[start : start + step].to(device)).sum())
    return correct


@torch.no_grad()
def _evaluate(model, x, y, lesions: list, widths: list, reporter=None) -> np.ndarray:
    """Correct-prediction counts (int64) for each checked lesion, batched by layer set."""
    counts = np.zeros(len(lesions), dtype=np.int64)
    groups = {}
    for i, lesion in enumerate(lesions):
        groups.setdefault(tuple(lesion), []).append(i)
    for layers, rows in groups.items():
        masks = {}
        for layer in layers:
            mask = torch.ones(len(rows), widths[layer])
            for r, i in enumerate(rows):
                mask[r, torch.as_tensor(lesions[i][layer])] = 0
            masks[layer] = mask
        counts[rows] = _masked_counts(model, x, y, masks, widths, reporter)
    return counts


@torch.no_grad()
def _masked_counts(model, x, y, masks: dict, widths: list, reporter=None) -> np.ndarray:
    """Counts for a batch of masks: ``masks[layer]`` of shape (n_masks, width)."""
    param = next(model.parameters())
    device, dtype = param.device, param.dtype
    layers = sorted(masks)
    n_masks = masks[layers[0]].shape[0]
    linears = linear_layers(model)
    prefix, suffix = _split(model, linears[layers[0]])
    n = len(y)
    x_dev, y_dev = x.to(device), y.to(device)
    # Activations before the first lesioned layer, once for the whole test set.
    if prefix is None:
        h = x_dev
    else:
        step = max(1, _CHUNK_FLOATS // max(widths))
        h = torch.cat([prefix(x_dev[s : s + step]) for s in range(0, n, step)])
    if prefix is not None and len(layers) == 1 and len(suffix) == 1:
        return _output_layer_counts(suffix[0], h, y_dev, masks[layers[0]], reporter)
    widest = max(max(widths[layers[0]:]), h.shape[1])
    n_chunk = min(n, max(256, _CHUNK_FLOATS // (widest * n_masks)))
    m_chunk = max(1, _CHUNK_FLOATS // (widest * n_chunk))
    counts = np.zeros(n_masks, dtype=np.int64)
    for m0 in range(0, n_masks, m_chunk):
        chunk = {l: masks[l][m0 : m0 + m_chunk].to(device=device, dtype=dtype) for l in layers}
        m1 = m0 + chunk[layers[0]].shape[0]
        correct = torch.zeros(m1 - m0, dtype=torch.int64, device=device)
        with _hooks(model, chunk, batched=True):
            for s in range(0, n, n_chunk):
                logits = suffix(h[s : s + n_chunk])
                if logits.dim() != 3 or logits.shape[0] != m1 - m0:
                    raise ValueError(
                        f"{type(model).__name__} gave outputs of shape {tuple(logits.shape)} for "
                        f"a batch of {m1 - m0} masks; batched lesions need the layers after a "
                        "lesion to act on the last dimension (Linear, elementwise activations, "
                        "Dropout), as in modcore.nn.MLP"
                    )
                correct += (logits.argmax(dim=-1) == y_dev[s : s + n_chunk]).sum(dim=1)
        counts[m0:m1] = correct.cpu().numpy()
        if reporter is not None:
            reporter.update(m1 - m0)
    return counts


def _output_layer_counts(linear, h, y, masks, reporter=None) -> np.ndarray:
    """Counts for lesions of the last hidden layer, read only by the output layer.

    Masking the output layer's input columns there costs as much as the output
    layer itself (``n_masks x n x width`` multiplications before a product with
    few outputs), so each mask is applied to the weight's columns instead and the
    layer run once per mask: the very products of a copy with those columns
    zeroed, several times faster.
    """
    counts = np.zeros(masks.shape[0], dtype=np.int64)
    weight, bias = linear.weight, linear.bias
    step = 64
    for m0 in range(0, masks.shape[0], step):
        block = masks[m0 : m0 + step].to(device=weight.device, dtype=weight.dtype)
        for r in range(block.shape[0]):
            logits = torch.nn.functional.linear(h, weight * block[r], bias)
            counts[m0 + r] = int((logits.argmax(dim=-1) == y).sum())
        if reporter is not None:
            reporter.update(block.shape[0])
    return counts
