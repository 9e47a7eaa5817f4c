"""Lesion tests: how much each module matters, and how modules depend on each other.

A *sub-module* is a module of a clustering (:func:`modcore.spectral_cluster`)
restricted to one hidden layer. *Lesioning* a set of neurons sets their outgoing
activations to zero: a forward pre-hook on the Linear layer that reads the
hidden layer multiplies its input by a 0/1 mask, so the model itself is never
copied or changed. The result is exactly that of a copy of the model whose
Linear layer has those input columns zeroed.

Single lesions
    Each sub-module is lesioned and the drop in test accuracy measured, then
    compared with ``random_lesions`` lesions of the same number of neurons drawn
    at random from the same layer's live neurons (those with at least one edge,
    i.e. clustering label >= 0; neurons without edges do nothing, so drawing
    them would make random lesions look harmless). Reported: the drop, the
    random drops' mean and sample std, ``z = (drop - mean) / std`` and the
    one-sided Monte Carlo p-value ``(1 + #{random drop >= drop}) / (R + 1)``
    (ties count against the sub-module).

Important sub-modules
    A sub-module is *tested* when its drop is at least ``min_drop`` (default
    :data:`MIN_DROP`, 1 percentage point; a smaller drop is not important
    whatever its p-value). The family of tested sub-modules, of size m, is
    Bonferroni-corrected: *important* means tested and ``p < alpha / m``
    (default ``alpha`` :data:`ALPHA` = 0.05). The filter on the drop is decided
    before any random lesion is drawn, so restricting the family to it is valid.

    A Monte Carlo p-value cannot go below ``1 / (R + 1)``: with R = 50 and
    m >= 3 tested sub-modules no sub-module could ever pass ``alpha / m``. With
    ``adaptive=True`` (the default) the tested sub-modules that can still pass
    get more random lesions, drawn from the same random stream (4 times as
    many per round), up to ``R_max`` (or ``max_random_lesions``), the smallest
    count with ``1 / (R_max + 1) < alpha / m``, about ``m / alpha``; one whose
    count of random drops >= its own already rules significance out stops
    early. The others keep R. The decisions are those of drawing ``R_max`` for
    every tested sub-module; with the default ``R_max`` a sub-module is
    important only if its drop beats every one of its random lesions.
    So each sub-module's ``n_random`` is R or more, and its p-value, mean, std
    and z use all of its random lesions. ``adaptive=False`` keeps exactly R per
    sub-module and warns when nothing can pass.

Tiny sub-modules
    Empty sub-modules (a module without neurons in that layer) are skipped.
    Sub-modules of any other size are tested the same way; for a tiny one the
    null is small: a single neuron is compared with single random neurons of
    the same layer, itself included, so it is important only if it is clearly
    the most harmful neuron of its layer; a sub-module holding all (or nearly
    all) live neurons of its layer is compared with itself (or near copies of
    itself): p-value near 1, never important, whatever its drop. The drop
    of a lesion is at least ``1 / n_test`` when not 0, so small effects need a
    large test set.

Double lesions
    For each pair of important sub-modules in different layers, both are
    lesioned together. The joint drop is compared with the sum of the two
    single drops: ``interaction = joint - (drop_a + drop_b)``, negative when
    the damage overlaps (e.g. one sub-module feeds the other), positive when it
    compounds. Random pairs (random lesion k of a with random lesion k of b,
    the first R of each) give the null of both: the joint p-value and z of the
    joint drop, and the z and two-sided p-value of the interaction against the
    random pairs' interactions. The *dependency matrix* holds the interactions.
    Pair p-values are not corrected for the number of pairs and cannot go
    below ``1 / (R + 1)``: read them with the z-scores.

Evaluation is batched: the activations before the first lesioned layer are
computed once for the test set, then many masks run through the rest of the
network together as an extra leading batch dimension (``(n_masks, n_examples,
width)``; Linear layers and elementwise activations act on the last dimension).
Lesions of the last hidden layer alone, read only by the output layer, apply
each mask to the output layer's weight columns instead (the products of a
zeroed copy, without the cost of masking ``n_masks x n_examples x width``
activations). Either way each logit is the same sum of the same products as
in a copy of the model with the lesioned neurons' outgoing weights zeroed, and
the accuracies equal that copy's (tested). Counts of
correct predictions are integers, so drops are exact multiples of
``1 / n_test`` and results depend only on ``seed``.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import sys
import time
import warnings
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..cluster import Clustering, spectral_cluster
from ..io import check_positive_int, check_seed
from ..significance import null_stats
from ..weights import weights_from_module
from .models import linear_layers

__all__ = [
    "ALPHA",
    "MIN_DROP",
    "SubModule",
    "SubModuleLesion",
    "PairLesion",
    "LesionStudy",
    "sub_modules",
    "random_lesions",
    "lesioned",
    "lesion_accuracy",
    "lesion_study",
]

ALPHA = 0.05
MIN_DROP = 0.01
# Most random lesions per sub-module: each is a forward pass over the test set,
# and their draws are an (n, layer width) array.
MAX_RANDOM_LESIONS = 100_000
# Floats in one activation tensor of a batched pass (n_masks x n_examples x width):
# 4 MB, e.g. 4096 rows x 256, where the CPU matrix products ran fastest (larger
# blocks fall out of cache: 32768 rows were 20 % slower per row).
_CHUNK_FLOATS = 1 << 20


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True, repr=False)
class SubModule:
    """Module ``module`` restricted to hidden layer ``layer``: its neurons there."""

    layer: int
    module: int
    neurons: np.ndarray

    @property
    def size(self) -> int:
        return len(self.neurons)

    @property
    def name(self) -> str:
        return f"L{self.layer}M{self.module}"

    def __repr__(self) -> str:
        return f"SubModule(layer={self.layer}, module={self.module}, size={self.size})"


@dataclass(frozen=True, repr=False)
class SubModuleLesion:
    """Single lesion of one sub-module against random lesions of its size.

    Attributes
    ----------
    layer, module, size : int
    neurons : int array
        The lesioned neurons (indices in the layer).
    accuracy, drop : float
        Test accuracy with the sub-module lesioned, and ``base - accuracy``.
    random_drops : float array of shape (n_random,)
        Drops of the random lesions, in the order drawn.
    random_neurons : int array of shape (n_random, size)
        The random lesions (not in :meth:`to_dict`).
    random_mean, random_std : float
        Mean and sample std (ddof=1) of ``random_drops``.
    z_score : float
        ``(drop - random_mean) / random_std`` (±inf or 0 when the std is 0).
    p_value : float
        ``(1 + #{random_drops >= drop}) / (n_random + 1)``.
    tested : bool
        ``drop >= min_drop``: in the Bonferroni family.
    important : bool
        Tested and ``p_value < alpha / n_tested``.
    """

    layer: int
    module: int
    size: int
    neurons: np.ndarray
    accuracy: float
    drop: float
    random_drops: np.ndarray
    random_neurons: np.ndarray
    random_mean: float
    random_std: float
    z_score: float
    p_value: float
    tested: bool
    important: bool

    @property
    def n_random(self) -> int:
        return len(self.random_drops)

    @property
    def name(self) -> str:
        return f"L{self.layer}M{self.module}"

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        del d["random_neurons"]
        d["neurons"] = self.neurons.tolist()
        d["random_drops"] = self.random_drops.tolist()
        d["n_random"] = self.n_random
        return d

    def __repr__(self) -> str:
        return (
            f"SubModuleLesion({self.name}, size={self.size}, drop={self.drop:.4f}, "
            f"random={self.random_mean:.4f} ± {self.random_std:.4f}, z={self.z_score:.2f}, "
            f"p={self.p_value:.4g}, n_random={self.n_random}, important={self.important})"
        )


@dataclass(frozen=True, repr=False)
class PairLesion:
    """Joint lesion of two important sub-modules in different layers.

    Attributes
    ----------
    a, b : int
        Indices into :attr:`LesionStudy.single` (``a`` in the lower layer).
    joint_drop : float
        Accuracy drop with both lesioned.
    additive : float
        ``drop_a + drop_b``, what independent damage would predict.
    interaction : float
        ``joint_drop - additive``.
    random_joint_drops, random_interactions : float arrays of shape (n_random,)
        The same for random pairs (random lesion k of a with random lesion k of b).
    joint_z, joint_p : float
        ``joint_drop`` against the random joint drops (one-sided, larger is
        rarer: ``(1 + #{random >= joint}) / (n + 1)``).
    interaction_z, interaction_p : float
        ``interaction`` against the random interactions; the p-value is
        two-sided: ``(1 + #{|random - mean| >= |interaction - mean|}) / (n + 1)``.
    """

    a: int
    b: int
    name_a: str
    name_b: str
    joint_drop: float
    additive: float
    interaction: float
    random_joint_drops: np.ndarray
    random_interactions: np.ndarray
    joint_z: float
    joint_p: float
    interaction_z: float
    interaction_p: float

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["random_joint_drops"] = self.random_joint_drops.tolist()
        d["random_interactions"] = self.random_interactions.tolist()
        return d

    def __repr__(self) -> str:
        return (
            f"PairLesion({self.name_a}+{self.name_b}, joint={self.joint_drop:.4f}, "
            f"additive={self.additive:.4f}, interaction={self.interaction:+.4f}, "
            f"interaction z={self.interaction_z:.2f}, p={self.interaction_p:.4g})"
        )


@dataclass(frozen=True, repr=False)
class LesionStudy:
    """Single (and double) lesion results of one network.

    Attributes
    ----------
    base_accuracy : float
        Test accuracy of the intact network.
    n_test : int
        Test examples; drops are multiples of ``1 / n_test``.
    layer_sizes : list of int
    labels : list of int arrays
        The clustering used (``labels[l][i]``, -1 for neurons without edges).
    ncut : float or None
        Its n-cut, when it came from :func:`modcore.spectral_cluster`.
    n_clusters, seed, random_lesions : int
    alpha, min_drop : float
    adaptive : bool
    max_random_lesions : int
        Random lesions the tested sub-modules were topped up to (``random_lesions``
        when no top-up was needed or ``adaptive`` is off).
    n_tested : int
        Sub-modules with ``drop >= min_drop``: the Bonferroni family.
    threshold : float
        ``alpha / n_tested`` (``alpha`` when nothing was tested).
    single : list of SubModuleLesion
        One per non-empty sub-module, by layer then module.
    pairs : list of PairLesion
        Empty unless the double-lesion study ran.
    dependency : float array of shape (n_important, n_important)
        ``interaction`` of each pair of important sub-modules (symmetric); NaN
        on the diagonal and for pairs in the same layer.
    dependency_index : list of int
        Row / column ``i`` of ``dependency`` is ``single[dependency_index[i]]``.
    double : bool
        Whether the double-lesion study ran.
    seconds : dict
        Wall time of each stage: ``clustering`` (when run here), ``single`` (each
        sub-module and its R random lesions), ``top_up`` (the extra random
        lesions of candidates), ``double``, ``total``.
    n_masks : dict
        Lesions evaluated per stage (the true ones and the random ones).
    """

    base_accuracy: float
    n_test: int
    layer_sizes: list
    labels: list
    ncut: float | None
    n_clusters: int
    seed: int
    random_lesions: int
    alpha: float
    min_drop: float
    adaptive: bool
    max_random_lesions: int
    n_tested: int
    threshold: float
    single: list
    pairs: list
    dependency: np.ndarray
    dependency_index: list
    double: bool
    seconds: dict
    n_masks: dict

    @property
    def important(self) -> list:
        """The important sub-modules' lesions."""
        return [s for s in self.single if s.important]

    def to_dict(self) -> dict:
        """Plain values, ready for JSON (NaN / inf become None)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["labels"] = [np.asarray(lab).tolist() for lab in self.labels]
        d["single"] = [s.to_dict() for s in self.single]
        d["pairs"] = [p.to_dict() for p in self.pairs]
        d["dependency"] = self.dependency.tolist()
        d["important"] = [s.name for s in self.important]
        return _json_safe(d)

    def table(self) -> str:
        """The single-lesion results as a text table (drops in percentage points)."""
        lines = [
            f"base accuracy {self.base_accuracy:.4f} on {self.n_test} test examples; "
            f"{self.n_tested} sub-modules with drop >= {100 * self.min_drop:g} pp, "
            f"important: p < {self.alpha:g}/{max(self.n_tested, 1)} = {self.threshold:.3g}",
            f"{'sub-module':>10s} {'size':>5s} {'drop pp':>8s} {'random pp':>14s} "
            f"{'z':>8s} {'p':>8s} {'R':>5s}  important",
        ]
        for s in self.single:
            rand = f"{100 * s.random_mean:.2f} ± {100 * s.random_std:.2f}"
            lines.append(
                f"{s.name:>10s} {s.size:5d} {100 * s.drop:8.2f} {rand:>14s} "
                f"{s.z_score:8.2f} {s.p_value:8.4f} {s.n_random:5d}  {'yes' if s.important else ''}"
            )
        if self.pairs:
            lines.append("double lesions (pp): joint, sum of singles, interaction, z, p")
            for p in self.pairs:
                lines.append(
                    f"{p.name_a + '+' + p.name_b:>12s} {100 * p.joint_drop:8.2f} "
                    f"{100 * p.additive:8.2f} {100 * p.interaction:+8.2f} "
                    f"{p.interaction_z:8.2f} {p.interaction_p:8.4f}"
                )
        elif self.double:
            lines.append("double lesions: fewer than two important sub-modules in different layers")
        return "\n".join(lines)

    def to_markdown(self) -> str:
        """The important sub-modules (and pairs) as Markdown tables, for reports."""
        out = [
            f"Base test accuracy {100 * self.base_accuracy:.2f} % ({self.n_test} examples), "
            f"k = {self.n_clusters}, {self.random_lesions} random lesions per sub-module "
            f"(topped up to {self.max_random_lesions} for candidates). "
            f"{len(self.single)} sub-modules, {self.n_tested} with a drop >= "
            f"{100 * self.min_drop:g} pp, {len(self.important)} important "
            f"(p < {self.alpha:g} / {max(self.n_tested, 1)}).",
            "",
            "| layer | important / sub-modules "
            "| sub-module (size): drop vs random mean ± std, pp |",
            "|---|---|---|",
        ]
        for layer in range(1, len(self.layer_sizes) - 1):
            subs = [s for s in self.single if s.layer == layer]
            imp = [s for s in subs if s.important]
            text = "; ".join(
                f"M{s.module} ({s.size}): {100 * s.drop:.2f} vs {100 * s.random_mean:.2f} ± "
                f"{100 * s.random_std:.2f}"
                for s in sorted(imp, key=lambda s: -s.drop)
            )
            out.append(f"| {layer} | {len(imp)} / {len(subs)} | {text or '-'} |")
        if self.pairs:
            out += [
                "",
                "| pair | joint drop pp | sum of singles pp | interaction pp | z | p |",
                "|---|---|---|---|---|---|",
            ]
            for p in self.pairs:
                out.append(
                    f"| {p.name_a} + {p.name_b} | {100 * p.joint_drop:.2f} | "
                    f"{100 * p.additive:.2f} | {100 * p.interaction:+.2f} | "
                    f"{p.interaction_z:.2f} | {p.interaction_p:.3g} |"
                )
        return "\n".join(out)

    def __repr__(self) -> str:
        by_layer = {}
        for s in self.important:
            by_layer.setdefault(s.layer, []).append(s.module)
        return (
            f"LesionStudy(base_accuracy={self.base_accuracy:.4f}, sub-modules={len(self.single)}, "
            f"tested={self.n_tested}, important by layer={by_layer}, pairs={len(self.pairs)}, "
            f"seed={self.seed})"
        )


# ----------------------------------------------------------------------------- inputs


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


# ----------------------------------------------------------------------------- lesions


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
    n = check_positive_int(n, "n", maximum=MAX_RANDOM_LESIONS)
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


def lesion_accuracy(model: nn.Module, data, lesions, progress=False):
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
    progress : bool or None
        Report evaluated lesions on stderr (None: when stderr is a terminal).

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
    reporter = _Reporter("lesion_accuracy", progress)
    reporter.add(len(checked), "lesions")
    with _eval_mode(model):
        counts = _evaluate(model, x, y, checked, widths, reporter)
    reporter.close()
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


# ----------------------------------------------------------------------------- evaluation


class _Reporter:
    """Counts evaluated lesions on stderr (one rewritten line)."""

    def __init__(self, desc: str, show):
        self.desc = desc
        self.show = sys.stderr.isatty() if show is None else bool(show)
        self.done = 0
        self.total = 0
        self.stage = ""

    def add(self, total: int, stage: str) -> None:
        self.total += total
        self.stage = stage

    def update(self, n: int) -> None:
        self.done += n
        if self.show:
            print(f"\r{self.desc}: {self.stage}: {self.done}/{self.total} lesions",
                  end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.show and self.total:
            print(file=sys.stderr, flush=True)


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


# ----------------------------------------------------------------------------- statistics


def _json_safe(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return _json_safe(value.item())
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


# ----------------------------------------------------------------------------- the study


def lesion_study(
    model: nn.Module,
    data,
    n_clusters: int = 12,
    random_lesions: int = 50,
    seed=0,
    double: bool = True,
    progress=True,
    *,
    clustering=None,
    alpha: float = ALPHA,
    min_drop: float = MIN_DROP,
    adaptive: bool = True,
    max_random_lesions: int | None = None,
    n_init: int = 10,
    n_jobs=None,
) -> LesionStudy:
    """Lesion every sub-module of a trained MLP; then pairs of the important ones.

    See the module docstring (:mod:`modcore.nn.lesion`) for the method and the
    exact definitions.

    Parameters
    ----------
    model : torch.nn.Module
        An MLP (e.g. :class:`modcore.nn.MLP` or a loaded checkpoint's model). Its
        Linear layers must chain; an ``nn.Sequential`` is evaluated fastest (the
        layers before a lesion run once). Evaluated in eval mode; its mode is
        restored and its weights are never changed.
    data : Dataset or (x, y)
        A :class:`modcore.nn.Dataset` (the test split is used) or test inputs
        ``(n, n_features)`` and integer labels ``(n,)``.
    n_clusters : int, default 12
        Modules k of the clustering (ignored when ``clustering`` is given).
    random_lesions : int, default 50
        Random lesions R per sub-module (and random pairs per pair).
    seed : None, int or numpy.random.Generator, default 0
        Seeds the clustering and every random lesion: same seed, same study.
        Sub-module (l, m) draws from its own stream ``(seed, l, m)``.
    double : bool, default True
        Also run the double-lesion study of the important sub-modules.
    progress : bool or None, default True
        Count evaluated lesions on stderr (None: when stderr is a terminal).
    clustering : Clustering or list of int arrays, optional
        Use these modules instead of clustering the network.
    alpha : float, default 0.05
        Family-wise level; Bonferroni over the tested sub-modules.
    min_drop : float, default 0.01
        Smallest accuracy drop (fraction: 0.01 = 1 percentage point) for a
        sub-module to be tested, hence to be important.
    adaptive : bool, default True
        Top up the tested sub-modules that can still be significant with more
        random lesions, up to ``max_random_lesions``.
    max_random_lesions : int, optional
        Ceiling of the top-up, at most ``MAX_RANDOM_LESIONS`` (100,000); default
        ``floor(n_tested / alpha)``, the fewest that let a p-value pass
        ``alpha / n_tested``, within that bound.
    n_init, n_jobs
        For :func:`modcore.spectral_cluster`.

    Returns
    -------
    LesionStudy

    Raises
    ------
    ValueError
        If the model has no hidden layer, the data do not fit it, the labels do
        not match its layer sizes, or a parameter is out of range.
    TypeError
        If ``model`` or ``data`` is of the wrong type.

    Examples
    --------
    >>> import torch
    >>> from modcore.nn import MLP
    >>> model = MLP([6, 8, 8, 3], seed=0)
    >>> x, y = torch.rand(64, 6), torch.randint(0, 3, (64,))
    >>> study = lesion_study(model, (x, y), n_clusters=2, random_lesions=5, progress=False)
    >>> study.n_test
    64
    """
    started = time.perf_counter()
    widths = _network_widths(model)
    x, y = _test_data(data)
    if x.shape[1] != widths[0]:
        raise ValueError(f"data has {x.shape[1]} features but the network takes {widths[0]} inputs")
    if int(y.min()) < 0 or int(y.max()) >= widths[-1]:
        raise ValueError(
            f"labels must be in 0..{widths[-1] - 1} (the network has {widths[-1]} outputs), "
            f"got {int(y.min())}..{int(y.max())}"
        )
    r = check_positive_int(random_lesions, "random_lesions", maximum=MAX_RANDOM_LESIONS)
    if not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if not isinstance(min_drop, (int, float)) or not 0 <= min_drop <= 1:
        raise ValueError(f"min_drop must be in [0, 1] (a fraction of accuracy), got {min_drop!r}")
    if max_random_lesions is not None:
        check_positive_int(max_random_lesions, "max_random_lesions", maximum=MAX_RANDOM_LESIONS)
    seed = check_seed(seed)
    seconds = {}

    ncut = None
    if clustering is None:
        n_clusters = check_positive_int(n_clusters, "n_clusters", minimum=2)
        t = time.perf_counter()
        found = spectral_cluster(weights_from_module(model), n_clusters=n_clusters,
                                 n_init=n_init, seed=seed, n_jobs=n_jobs)
        seconds["clustering"] = time.perf_counter() - t
        labels, ncut = found.labels, found.ncut
    else:
        if isinstance(clustering, Clustering):
            ncut, n_clusters = clustering.ncut, clustering.n_clusters
        labels = _check_labels(clustering, widths)
        if not isinstance(clustering, Clustering):
            n_clusters = int(max((lab.max(initial=-1) for lab in labels), default=-1)) + 1
    labels = _check_labels(labels, widths)
    subs = sub_modules(labels)
    if not subs:
        raise ValueError("no hidden neuron belongs to a module: nothing to lesion")

    reporter = _Reporter("lesion study", progress)
    with _eval_mode(model):
        base = _plain_counts(model, x, y)
        t = time.perf_counter()
        single, info = _single_study(model, x, y, widths, labels, subs, base, r, seed, alpha,
                                     min_drop, adaptive, max_random_lesions, reporter)
        seconds["single"] = time.perf_counter() - t - info["top_up_seconds"]
        seconds["top_up"] = info["top_up_seconds"]
        pairs, dependency, index = [], np.zeros((0, 0)), []
        n_pair_masks = 0
        if double:
            t = time.perf_counter()
            pairs, dependency, index, n_pair_masks = _double_study(
                model, x, y, widths, single, base, r, reporter)
            seconds["double"] = time.perf_counter() - t
    reporter.close()
    seconds["total"] = time.perf_counter() - started
    return LesionStudy(
        base_accuracy=base / len(y),
        n_test=len(y),
        layer_sizes=widths,
        labels=labels,
        ncut=ncut,
        n_clusters=int(n_clusters),
        seed=seed,
        random_lesions=r,
        alpha=float(alpha),
        min_drop=float(min_drop),
        adaptive=bool(adaptive),
        max_random_lesions=info["max_random"],
        n_tested=info["n_tested"],
        threshold=info["threshold"],
        single=single,
        pairs=pairs,
        dependency=dependency,
        dependency_index=index,
        double=bool(double),
        seconds=seconds,
        n_masks={"single": info["n_masks"], "double": n_pair_masks},
    )


def _single_study(model, x, y, widths, labels, subs, base, r, seed, alpha, min_drop, adaptive,
                  max_random, reporter):
    n = len(y)
    pools = {l: np.flatnonzero(labels[l] >= 0) for l in range(1, len(widths) - 1)}
    rngs = [np.random.default_rng([seed, s.layer, s.module]) for s in subs]
    drawn = [_draw(rng, pools[s.layer], s.size, r) for rng, s in zip(rngs, subs)]
    n_masks = 0

    # Stage 1: each sub-module and its R random lesions, one batch per layer.
    lesions = []
    for s, rand in zip(subs, drawn):
        lesions.append({s.layer: s.neurons})
        lesions += [{s.layer: row} for row in rand]
    reporter.add(len(lesions), "single lesions")
    counts = _evaluate(model, x, y, lesions, widths, reporter)
    n_masks += len(lesions)
    true_counts, rand_counts = [], []
    for i in range(len(subs)):
        block = counts[i * (r + 1) : (i + 1) * (r + 1)]
        true_counts.append(int(block[0]))
        rand_counts.append(block[1:])

    # Drops are compared as integer counts: random drop >= drop <=> count <= true count.
    drops = [(base - c) / n for c in true_counts]
    tested = [d >= min_drop - 1e-12 for d in drops]
    n_tested = int(sum(tested))
    threshold = alpha / n_tested if n_tested else alpha
    needed = r
    if n_tested:  # the fewest R with 1 / (R + 1) < alpha / m, robust to rounding of m / alpha
        needed = max(1, math.floor(n_tested / alpha) - 1)
        while 1 / (needed + 1) >= threshold:
            needed += 1
    # A tiny alpha must not size an allocation beyond what a study can evaluate.
    target = max(r, min(needed, MAX_RANDOM_LESIONS) if max_random is None else max_random)
    if not adaptive:
        target = r
    if n_tested and 1 / (target + 1) >= threshold:
        warnings.warn(
            f"{target} random lesions per sub-module cannot give a p-value below "
            f"alpha / n_tested = {alpha:g}/{n_tested}: no sub-module can be important; "
            f"use adaptive=True or at least {needed} random lesions",
            stacklevel=3,
        )

    def exceed(i):
        return int((rand_counts[i] <= true_counts[i]).sum())

    def hopeful(i):
        return tested[i] and (1 + exceed(i)) / (target + 1) < threshold

    # Stage 2: top up the candidates, the random count growing 4-fold per round.
    stage_one = time.perf_counter()
    while True:
        live = [i for i in range(len(subs)) if hopeful(i) and len(rand_counts[i]) < target]
        if not live:
            break
        lesions, spans = [], []
        for i in live:
            have = len(rand_counts[i])
            more = _draw(rngs[i], pools[subs[i].layer], subs[i].size,
                         min(target, 4 * have) - have)
            drawn[i] = np.concatenate([drawn[i], more])
            spans.append((i, len(lesions), len(more)))
            lesions += [{subs[i].layer: row} for row in more]
        reporter.add(len(lesions), "top-up of candidates")
        counts = _evaluate(model, x, y, lesions, widths, reporter)
        n_masks += len(lesions)
        for i, start, size in spans:
            rand_counts[i] = np.concatenate([rand_counts[i], counts[start : start + size]])

    results = []
    for i, s in enumerate(subs):
        rand_drops = (base - rand_counts[i]) / n
        mean, std, z = null_stats(drops[i], rand_drops)
        p = (1 + exceed(i)) / (len(rand_drops) + 1)
        results.append(SubModuleLesion(
            layer=s.layer, module=s.module, size=s.size, neurons=s.neurons,
            accuracy=true_counts[i] / n, drop=drops[i], random_drops=rand_drops,
            random_neurons=drawn[i], random_mean=mean, random_std=std, z_score=z,
            p_value=p, tested=bool(tested[i]), important=bool(tested[i] and p < threshold),
        ))
    info = {"n_tested": n_tested, "threshold": threshold, "max_random": int(target),
            "n_masks": n_masks, "top_up_seconds": time.perf_counter() - stage_one}
    return results, info


def _double_study(model, x, y, widths, single, base, r, reporter):
    n = len(y)
    index = [i for i, s in enumerate(single) if s.important]
    pairs_idx = [(a, b) for a in index for b in index if single[a].layer < single[b].layer]
    lesions = []
    for a, b in pairs_idx:
        sa, sb = single[a], single[b]
        lesions.append({sa.layer: sa.neurons, sb.layer: sb.neurons})
        lesions += [{sa.layer: sa.random_neurons[k], sb.layer: sb.random_neurons[k]}
                    for k in range(r)]
    counts = np.zeros(0, dtype=np.int64)
    if lesions:
        reporter.add(len(lesions), "double lesions")
        counts = _evaluate(model, x, y, lesions, widths, reporter)
    pairs = []
    dependency = np.full((len(index), len(index)), np.nan)
    pos = {i: k for k, i in enumerate(index)}
    for j, (a, b) in enumerate(pairs_idx):
        sa, sb = single[a], single[b]
        block = counts[j * (r + 1) : (j + 1) * (r + 1)]
        joint = (base - int(block[0])) / n
        rand_joint = (base - block[1:]) / n
        rand_inter = rand_joint - (sa.random_drops[:r] + sb.random_drops[:r])
        additive = sa.drop + sb.drop
        inter = joint - additive
        _, _, joint_z = null_stats(joint, rand_joint)
        joint_p = (1 + int((block[1:] <= block[0]).sum())) / (r + 1)
        mean_i, _, inter_z = null_stats(inter, rand_inter)
        # A tolerance of half a test example: values are multiples of 1/n up to rounding.
        far = np.abs(rand_inter - mean_i) >= abs(inter - mean_i) - 0.5 / n
        inter_p = (1 + int(far.sum())) / (r + 1)
        pairs.append(PairLesion(
            a=a, b=b, name_a=sa.name, name_b=sb.name, joint_drop=joint, additive=additive,
            interaction=inter, random_joint_drops=rand_joint, random_interactions=rand_inter,
            joint_z=joint_z, joint_p=joint_p, interaction_z=inter_z, interaction_p=inter_p,
        ))
        dependency[pos[a], pos[b]] = dependency[pos[b], pos[a]] = inter
    return pairs, dependency, index, len(lesions)
