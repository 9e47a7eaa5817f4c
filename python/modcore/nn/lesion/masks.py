"""Which neurons a lesion silences, checked, and the hooks that silence them.

A lesion is a mapping ``{hidden layer: neuron indices}``; layer 0 is the input
and the last layer the output, neither of which is lesioned. A forward
pre-hook on the Linear layer that reads a lesioned layer multiplies its input
by a 0/1 mask, so the model is never copied or changed.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from ...cluster import Clustering
from ...io import check_positive_int, check_seed
from ..models import linear_layers
from .results import SubModule

__all__ = ["sub_modules", "random_lesions", "lesioned"]


def _network_widths(model: nn.Module) -> list:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    linears = linear_layers(model)
    if len(linears) < 2:
        raise ValueError(
            f"lesions need a hidden layer: {type(model).__name__} has {len(linears)} Linear "
            "layer(s), expected at least 2"
        )
    widths = [linears[0].in_features]
    for i, lin in enumerate(linears):
        if lin.in_features != widths[-1]:
            raise ValueError(
                f"Linear layer {i} takes {lin.in_features} inputs but the previous one has "
                f"{widths[-1]} outputs; lesions need an MLP whose Linear layers chain"
            )
        widths.append(lin.out_features)
    return widths


def _check_layer(layer, widths) -> int:
    last = len(widths) - 2
    if not isinstance(layer, numbers.Integral) or isinstance(layer, bool):
        raise TypeError(f"a lesion's layer must be an int, got {type(layer).__name__}")
    if not 1 <= layer <= last:
        raise ValueError(
            f"layer {layer} is not a hidden layer: lesions go in layers 1..{last} "
            f"(0 is the input layer, {last + 1} the output layer)"
        )
    return int(layer)


def _check_neurons(neurons, layer, width) -> np.ndarray:
    arr = np.asarray(neurons)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"layer {layer}: neurons must be a 1-D sequence, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"layer {layer}: empty lesion (no neurons given)")
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"layer {layer}: neuron indices must be integers, got {arr.dtype}")
    if arr.min() < 0 or arr.max() >= width:
        raise ValueError(
            f"layer {layer} has {width} neurons (indices 0..{width - 1}), got index "
            f"{arr.min() if arr.min() < 0 else arr.max()}"
        )
    return np.unique(arr.astype(np.int64))


def _check_lesion(lesion, widths) -> dict:
    """{layer: sorted unique neuron indices}, validated."""
    if not isinstance(lesion, Mapping):
        raise TypeError(
            f"a lesion is a mapping {{hidden layer: neuron indices}}, got {type(lesion).__name__}"
        )
    if not lesion:
        raise ValueError("empty lesion: give at least one {hidden layer: neurons} entry")
    out = {}
    for layer, neurons in lesion.items():
        layer = _check_layer(layer, widths)
        out[layer] = _check_neurons(neurons, layer, widths[layer])
    return dict(sorted(out.items()))


def _check_labels(labels, widths) -> list:
    if isinstance(labels, Clustering):
        labels = labels.labels
    labels = [np.asarray(lab) for lab in labels]
    if len(labels) != len(widths):
        raise ValueError(
            f"labels has {len(labels)} layers but the network has {len(widths)} "
            f"(layer sizes {widths})"
        )
    for l, (lab, width) in enumerate(zip(labels, widths)):
        if lab.shape != (width,) or not np.issubdtype(lab.dtype, np.integer):
            raise ValueError(
                f"labels[{l}] must be {width} integers (layer {l} has {width} neurons), "
                f"got {lab.dtype} of shape {lab.shape}"
            )
    return [lab.astype(np.int64) for lab in labels]


def sub_modules(labels) -> list:
    """The non-empty sub-modules (module ∩ hidden layer) of a clustering.

    Parameters
    ----------
    labels : Clustering or list of int arrays
        ``labels[l][i]`` = module of neuron ``i`` of layer ``l`` (-1: no edges,
        never part of a sub-module). Layer 0 (inputs) and the last (outputs)
        are not lesioned.

    Returns
    -------
    list of SubModule
        By layer, then module number; modules absent from a layer are skipped.

    Examples
    --------
    >>> import numpy as np
    >>> subs = sub_modules([np.array([0, 1]), np.array([1, 1, -1, 0]), np.array([0])])
    >>> [(s.layer, s.module, s.neurons.tolist()) for s in subs]
    [(1, 0, [3]), (1, 1, [0, 1])]
    """
    if isinstance(labels, Clustering):
        labels = labels.labels
    out = []
    for layer in range(1, len(labels) - 1):
        lab = np.asarray(labels[layer])
        for module in np.unique(lab[lab >= 0]):
            out.append(SubModule(layer, int(module), np.flatnonzero(lab == module)))
    return out


def random_lesions(labels, layer: int, size: int, n: int, seed=None) -> np.ndarray:
    """``n`` random lesions of ``size`` neurons in ``layer``, from its live neurons.

    Live neurons are those with a label >= 0 (at least one edge). Each lesion is
    ``size`` distinct neurons drawn uniformly without replacement, independently
    of the other lesions; rows are sorted.

    Parameters
    ----------
    labels : Clustering or list of int arrays
    layer : int
        A hidden layer, 1 .. len(labels) - 2.
    size, n : int
    seed : None, int or numpy.random.Generator
        A Generator is drawn from (and advanced); an int gives the same lesions
        every time.

    Returns
    -------
    int array of shape (n, size)

    Raises
    ------
    ValueError
        If ``layer`` is not a hidden layer, ``size`` is < 1 or larger than the
        layer's live neurons, or ``n`` < 1.

    Examples
    --------
    >>> import numpy as np
    >>> lab = [np.zeros(3, int), np.array([0, 0, -1, 1, 1]), np.zeros(2, int)]
    >>> random_lesions(lab, layer=1, size=2, n=3, seed=0).shape
    (3, 2)
    """
    if isinstance(labels, Clustering):
        labels = labels.labels
    widths = [len(lab) for lab in labels]
    layer = _check_layer(layer, widths)
    n = check_positive_int(n, "n")
    size = check_positive_int(size, "size")
    pool = np.flatnonzero(np.asarray(labels[layer]) >= 0)
    if size > len(pool):
        raise ValueError(
            f"layer {layer} has {len(pool)} live neurons (label >= 0); cannot draw {size}"
        )
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(check_seed(seed))
    return _draw(rng, pool, size, n)


def _draw(rng: np.random.Generator, pool: np.ndarray, size: int, n: int) -> np.ndarray:
    # The `size` smallest of uniform keys: a uniform subset per row.
    keys = rng.random((n, len(pool)))
    picked = np.argpartition(keys, size - 1, axis=1)[:, :size] if size < len(pool) else None
    if picked is None:
        return np.broadcast_to(pool, (n, size)).copy()
    return np.sort(pool[picked], axis=1)


def _mask_hook(mask: torch.Tensor, batched: bool):
    def hook(module, args):
        x = args[0]
        if batched:
            if x.dim() == 2:  # the first lesioned layer: add the mask dimension
                x = x.unsqueeze(0)
            return (x * mask[:, None, :],) + tuple(args[1:])
        return (x * mask,) + tuple(args[1:])

    return hook


@contextmanager
def _hooks(model, masks: dict, batched: bool):
    linears = linear_layers(model)
    handles = [
        linears[layer].register_forward_pre_hook(_mask_hook(mask, batched))
        for layer, mask in masks.items()
    ]
    try:
        yield model
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def lesioned(model: nn.Module, lesion: Mapping):
    """Context in which ``model`` runs with the neurons of ``lesion`` silenced.

    Forward pre-hooks on the Linear layers reading the lesioned hidden layers
    multiply their input by a 0/1 mask; they are removed on exit. The model is
    not copied and its weights are not touched.

    Parameters
    ----------
    model : torch.nn.Module
        An MLP: its Linear layers (in registration order) chain.
    lesion : mapping
        ``{hidden layer: neuron indices}``; layer 1 is the first hidden layer.

    Raises
    ------
    ValueError
        On an empty lesion, a layer that is not hidden, or neuron indices out of range.

    Examples
    --------
    >>> import torch
    >>> from modcore.nn import MLP
    >>> model = MLP([3, 4, 2], seed=0)
    >>> with lesioned(model, {1: [0, 1, 2, 3]}):
    ...     out = model(torch.ones(1, 3))
    >>> bool((out == model[-1].bias).all())
    True
    """
    widths = _network_widths(model)
    lesion = _check_lesion(lesion, widths)
    param = next(model.parameters())
    masks = {}
    for layer, neurons in lesion.items():
        mask = torch.ones(widths[layer], dtype=param.dtype, device=param.device)
        mask[torch.as_tensor(neurons)] = 0
        masks[layer] = mask
    with _hooks(model, masks, batched=False):
        yield model
