"""Which units a lesion silences, checked, and the hooks that silence them.

A lesion is a mapping ``{group: unit indices}``; group 0 is the input and the
last group the output, neither of which is lesioned (for an MLP, group ``l`` is
hidden layer ``l``; see :mod:`~modcore.nn.lesion.units` for the groups of other
models). A forward hook on the module where a group's units leave their layer
multiplies its output by a 0/1 mask over dim 1, so the model is never copied or
changed.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from ...common.limits import MAX_RANDOM_LESIONS
from ...common.types import InputShape, SeedLike
from ...method.cluster import Clustering
from ...network.checks import check_positive_int, check_seed
from .results import SubModule
from .units import LesionUnits, lesion_units

__all__ = ["sub_modules", "random_lesions", "lesioned", "MAX_RANDOM_LESIONS"]


def _check_layer(layer, widths) -> int:
    last = len(widths) - 2
    if not isinstance(layer, numbers.Integral) or isinstance(layer, bool):
        raise TypeError(f"a lesion's layer must be an int, got {type(layer).__name__}")
    if not 1 <= int(layer) <= last:
        raise ValueError(
            f"layer {layer} is not a hidden layer: lesions go in layers 1..{last} "
            f"(0 is the input layer, {last + 1} the output layer)"
        )
    return int(layer)


def _check_units(neurons, group: int, units: LesionUnits) -> np.ndarray:
    width, noun = units.sizes[group], units.noun(group)
    arr = np.asarray(neurons)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"layer {group}: {noun} must be a 1-D sequence, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"layer {group}: empty lesion (no {noun} given)")
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"layer {group}: {noun} indices must be integers, got {arr.dtype}")
    if arr.min() < 0 or arr.max() >= width:
        raise ValueError(
            f"layer {group} has {width} {noun} (indices 0..{width - 1}), got index "
            f"{arr.min() if arr.min() < 0 else arr.max()}"
        )
    return np.unique(arr.astype(np.int64))


def _check_lesion(lesion, units: LesionUnits) -> dict:
    """{group index: sorted unique unit indices}, validated."""
    if not isinstance(lesion, Mapping):
        raise TypeError(
            f"a lesion is a mapping {{hidden layer: neuron indices}}, got {type(lesion).__name__}"
        )
    if not lesion:
        raise ValueError("empty lesion: give at least one {hidden layer: neurons} entry")
    out = {}
    for group, neurons in lesion.items():
        group = units.check_group(group)
        out[group] = _check_units(neurons, group, units)
    return dict(sorted(out.items()))


def sub_modules(
    labels: Clustering | Sequence[np.ndarray], *, groups: Sequence[int] | None = None
) -> list:
    """The non-empty sub-modules (module ∩ group of units) of a clustering.

    Parameters
    ----------
    labels : Clustering or list of int arrays
        ``labels[l][i]`` = module of unit ``i`` of group (layer) ``l`` (-1: no
        edges, never part of a sub-module).
    groups : sequence of int, optional
        The groups to read (default: all but the first, the inputs, and the
        last, the outputs, as in an MLP).

    Returns
    -------
    list of SubModule
        By group, then module number; modules absent from a group are skipped.

    Examples
    --------
    >>> import numpy as np
    >>> subs = sub_modules([np.array([0, 1]), np.array([1, 1, -1, 0]), np.array([0])])
    >>> [(s.layer, s.module, s.neurons.tolist()) for s in subs]
    [(1, 0, [3]), (1, 1, [0, 1])]
    """
    if isinstance(labels, Clustering):
        labels = labels.labels
    if groups is None:
        groups = range(1, len(labels) - 1)
    out = []
    for layer in groups:
        lab = np.asarray(labels[layer])
        for module in np.unique(lab[lab >= 0]):
            out.append(SubModule(layer, int(module), np.flatnonzero(lab == module)))
    return out


def random_lesions(
    labels: Clustering | Sequence[np.ndarray],
    layer: int,
    size: int,
    n: int,
    seed: SeedLike = None,
) -> np.ndarray:
    """``n`` random lesions of ``size`` units in ``layer``, from its live units.

    Live units are those with a label >= 0 (at least one edge). Each lesion is
    ``size`` distinct units drawn uniformly without replacement, independently
    of the other lesions; rows are sorted.

    Parameters
    ----------
    labels : Clustering or list of int arrays
    layer : int
        A hidden layer (group), 1 .. len(labels) - 2.
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
        layer's live units, or ``n`` < 1.

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
    n = check_positive_int(n, "n", maximum=MAX_RANDOM_LESIONS)
    size = check_positive_int(size, "size")
    pool = np.flatnonzero(np.asarray(labels[layer]) >= 0)
    if size > len(pool):
        raise ValueError(
            f"layer {layer} has {len(pool)} live units (label >= 0); cannot draw {size}"
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


class _MaskState:
    """What the hooks read: ``masks[group]`` of shape (n_masks, width), and ``n``, the
    examples in the batch being run (None: one mask, any batch)."""

    def __init__(self):
        self.masks = {}
        self.n = None


def _apply_mask(out: torch.Tensor, mask: torch.Tensor, n) -> torch.Tensor:
    """``out`` (batch, width, *rest) with the masks applied over dim 1.

    With several masks, they join the batch dimension: the first lesioned
    group turns a batch of n examples into ``n_masks * n`` rows (mask-major);
    later groups see those rows and apply mask r to rows ``r * n .. r * n + n``.
    """
    if not isinstance(out, torch.Tensor) or out.dim() < 2 or out.shape[1] != mask.shape[1]:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(
            f"a lesion hook expected a tensor of {mask.shape[1]} units on dim 1, got {got}"
        )
    view = (mask.shape[0], 1, mask.shape[1]) + (1,) * (out.dim() - 2)
    if n is None:
        return out * mask.reshape(view[1:])
    m = mask.shape[0]
    if out.shape[0] == n:
        rows = out.unsqueeze(0)
    elif out.shape[0] == m * n:
        rows = out.reshape(m, n, *out.shape[1:])
    else:
        raise ValueError(
            f"a lesion hook got a batch of {out.shape[0]} rows, expected {n} "
            f"examples or {m} masks x {n} examples"
        )
    return (rows * mask.reshape(view)).reshape(m * n, *out.shape[1:])


def _hook(group: int, state: _MaskState):
    def hook(module, args, out):
        mask = state.masks.get(group)
        return None if mask is None else _apply_mask(out, mask, state.n)

    return hook


@contextmanager
def _hooks(units: LesionUnits, groups, state: _MaskState):
    handles = [units.emitters[g].register_forward_hook(_hook(g, state)) for g in groups]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def lesioned(
    model: nn.Module, lesion: Mapping, *, input_shape: InputShape = None
) -> Iterator[nn.Module]:
    """Context in which ``model`` runs with the units of ``lesion`` silenced.

    A forward hook on the module where each lesioned group's units leave their
    layer (after BatchNorm, activation, dropout, pooling; see
    :mod:`modcore.nn.lesion.units`) multiplies its output by a 0/1 mask over
    dim 1: a neuron, or a channel's whole feature map. The hooks are removed on
    exit; the model is not copied and its weights are not touched.

    Parameters
    ----------
    model : torch.nn.Module
        An MLP, a CNN, or any model :func:`modcore.network.torch.trace.network_from_module` reads.
    lesion : mapping
        ``{group: unit indices}``; for an MLP, group 1 is the first hidden layer.
        A group may also be given by name (``"convs.1"``).
    input_shape : tuple of int, optional
        One example's shape, to trace the model (default: ``model.input_shape``,
        else the first Linear's inputs).

    Raises
    ------
    ValueError
        On an empty lesion, a group that cannot be lesioned, or indices out of range.

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
    units = lesion_units(model, input_shape=input_shape)
    lesion = _check_lesion(lesion, units)
    param = next(model.parameters())
    state = _MaskState()
    for group, neurons in lesion.items():
        mask = torch.ones(1, units.sizes[group], dtype=param.dtype, device=param.device)
        mask[0, torch.as_tensor(neurons)] = 0
        state.masks[group] = mask
    with _hooks(units, lesion, state):
        yield model
