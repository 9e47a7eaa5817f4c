"""The unit groups of a model that lesions can silence, and where each is silenced.

The groups are those of :func:`modcore.network.torch.trace.network_from_module`, read from
the same torch.fx trace and named the same way: ``"input"``, then one group per
Linear or convolution call named by the module's qualified name (an MLP's
layer ``l`` is group ``l``). A group's units are the layer's output neurons or
output channels.

Where a group is silenced
    A lesioned unit must send nothing downstream, as if its outgoing weights
    were zero: that is what the MLP lesions always did (the masked input of the
    next Linear). The units leave their layer after the per-unit ops that follow
    it: BatchNorm, activation, dropout, pooling, padding. Zeroing the layer's
    own output would not silence a channel followed by BatchNorm (its shift
    ``beta - gamma * mean / sqrt(var + eps)`` is added after the zero and
    survives a ReLU), nor a unit followed by an activation with ``f(0) != 0``.
    So the trace is followed from the layer through those single-reader ops, and
    the last one, the *emitter*, gets a forward hook that multiplies its output
    by a 0/1 mask over dim 1: a channel's whole feature map, or a neuron. What
    every later op reads is then exactly the output of a copy whose following
    layers (the next convolution, the Linear after a Flatten, a residual add)
    have the lesioned units' inputs zeroed. For a layer followed by ReLU (the
    papers' networks), this is also what the authors did (zeroing the unit's
    incoming weights and bias: ``relu(0) = 0``).

The emitter must be a module called once in the forward (an ``nn.ReLU``, an
``nn.MaxPool2d``, the layer itself, ...), since a forward hook belongs to a
module; a functional op at the end of the chain (``F.relu(x)``) or a module
reused at several places (one ``self.relu`` for every layer) cannot be hooked
for one group only, and lesioning that group raises a ValueError naming it.
The last Linear or convolution computes the outputs and is never lesioned.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ...common.types import InputShape
from ...method.cluster import Clustering
from ...network.torch.ops import BATCHNORMS
from ...network.torch.trace import _example_input, _propagate, _symbolic_trace
from ...network.torch.trace_walk import (
    LAYERS,
    PER_CHANNEL_FUNCTIONS,
    PER_CHANNEL_METHODS,
    PER_CHANNEL_MODULES,
    GraphWalk,
)

__all__ = ["LesionUnits", "lesion_units"]

_UNIT_NOUN = {"dense": "neurons", "conv": "channels", "input": "inputs"}


@dataclass(frozen=True, repr=False)
class LesionUnits:
    """A model's unit groups and where each lesionable one is silenced.

    Attributes
    ----------
    names, sizes, kinds : tuple
        Per group, in order of computation: the name, the number of units and
        ``"input"``, ``"dense"`` or ``"conv"``.
    hidden : tuple of int
        The groups that can be lesioned.
    emitters : dict
        Group index -> the module whose output carries the group's units.
    emitter_names : dict
        Group index -> that module's qualified name.
    refusals : dict
        Group index -> why it cannot be lesioned (for the error message).
    widest_after : dict
        Group index -> the largest tensor (floats per example) computed from
        its emitter on, which sizes the batches.
    widest : int
        The largest tensor (floats per example) of the whole forward pass.
    sequential_index : dict
        Group index -> the emitter's position among the children of an
        ``nn.Sequential`` model (absent when it is not a direct child).
    input_shape : tuple
        One example's shape.
    n_outputs : int
        Units of the output group (the number of classes).
    """

    names: tuple
    sizes: tuple
    kinds: tuple
    hidden: tuple
    emitters: dict
    emitter_names: dict
    refusals: dict
    widest_after: dict
    widest: int
    sequential_index: dict
    input_shape: tuple
    n_outputs: int

    def noun(self, group: int) -> str:
        """ "neurons" or "channels"."""
        return _UNIT_NOUN[self.kinds[group]]

    def check_group(self, group: int | str) -> int:
        """The index of a lesionable group given by index or name."""
        last = len(self.names) - 1
        group = group_index(group, self.names)
        if group not in self.hidden:
            where = (
                f"layers {self.hidden[0]}..{self.hidden[-1]}"
                if self.hidden == tuple(range(self.hidden[0], self.hidden[-1] + 1))
                else f"layers {list(self.hidden)}"
            )
            why = self.refusals.get(group)
            raise ValueError(
                f"layer {group} is not a hidden layer: lesions go in {where} "
                f"(0 is the input layer, {last} the output layer)"
                + (f"; layer {group} ({self.names[group]}) {why}" if why else "")
            )
        return group

    def check_labels(self, labels: Clustering | Sequence[np.ndarray]) -> list:
        """Labels of every group (-1 where the clustering has none), checked.

        A :class:`~modcore.Clustering` whose group names are the model's is
        matched by name (groups it left out, e.g. with the ``"paper_cnn"``
        preset, get -1); otherwise ``labels`` must hold one array per group.
        """
        return check_group_labels(
            labels, self.names, self.sizes, [self.noun(g) for g in range(len(self.names))]
        )

    def __repr__(self) -> str:
        groups = ", ".join(
            f"{n}: {s}" + ("*" if g in self.hidden else "")
            for g, (n, s) in enumerate(zip(self.names, self.sizes))
        )
        return f"LesionUnits([{groups}], * = lesionable)"


def group_index(group: int | str, names) -> int:
    """A group given by index or by name, as an int (a ValueError for an unknown name, a
    TypeError for anything but an int or a str)."""
    if isinstance(group, str):
        if group not in names:
            raise ValueError(f"no group named {group!r}; the groups are {list(names)}")
        return list(names).index(group)
    if not isinstance(group, numbers.Integral) or isinstance(group, bool):
        raise TypeError(
            f"a lesion's layer must be an int (or a group name), got {type(group).__name__}"
        )
    return int(group)


def check_group_labels(labels, names, sizes, nouns) -> list:
    """Labels of every group of ``names`` (``sizes`` units, called ``nouns``), checked: a
    Clustering whose group names are among them is matched by name (the others get -1),
    anything else must hold one integer array per group."""
    matched = None
    if isinstance(labels, Clustering):
        matched = labels.group_names
        labels = labels.labels
    labels = [np.asarray(lab) for lab in labels]
    if matched is not None and set(matched) <= set(names) and len(matched) == len(labels):
        full = [np.full(size, -1, dtype=np.int64) for size in sizes]
        for name, lab in zip(matched, labels):
            full[names.index(name)] = lab
        labels = full
    if len(labels) != len(sizes):
        raise ValueError(
            f"labels has {len(labels)} layers but the network has {len(sizes)} "
            f"(layer sizes {list(sizes)}, groups {list(names)})"
        )
    for g, (lab, size) in enumerate(zip(labels, sizes)):
        if lab.shape != (size,) or not np.issubdtype(lab.dtype, np.integer):
            raise ValueError(
                f"labels[{g}] must be {size} integers (layer {g}, {names[g]}, has "
                f"{size} {nouns[g]}), got {lab.dtype} of shape {lab.shape}"
            )
    return [lab.astype(np.int64) for lab in labels]


def lesion_units(
    model: nn.Module, *, example: torch.Tensor | None = None, input_shape: InputShape = None
) -> LesionUnits:
    """Trace ``model`` and find where each of its groups is silenced.

    Shapes are propagated from ``example`` (a batch) or a zeros batch of
    ``input_shape`` (default: the model's ``input_shape`` attribute, as the
    papers' models have, else ``(in_features,)`` of a first Linear).

    Raises
    ------
    TypeError
        If ``model`` is not a torch module.
    ValueError
        If the model cannot be traced or read (see
        :func:`modcore.network.torch.trace.network_from_module`), or has no hidden group.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(model, LAYERS):
        raise ValueError(
            f"lesions need a hidden layer: a bare {type(model).__name__} has 1 "
            "Linear/Conv layer, expected at least 2"
        )
    training = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        gm = _symbolic_trace(model)
        if example is None and input_shape is None:
            input_shape = getattr(model, "input_shape", None)
        example = _example_input(gm, model, input_shape, example)
        constants = _propagate(gm, model, example)
        walk = GraphWalk(gm, "l1", constants)
        walk.run()
        del constants
    finally:
        for module, flag in training:
            module.training = flag
    names = tuple(g[0] for g in walk.groups)
    sizes = tuple(int(g[1]) for g in walk.groups)
    kinds = tuple(g[2] for g in walk.groups)
    nodes = list(gm.graph.nodes)
    order = {node: i for i, node in enumerate(nodes)}
    layer_nodes = [
        n for n in nodes if n.op == "call_module" and isinstance(gm.get_submodule(n.target), LAYERS)
    ]
    if len(layer_nodes) != len(names) - 1 or kinds[0] != "input":
        raise ValueError(
            f"{type(model).__name__}: the traced groups {list(names)} do not match "
            "its Linear/Conv calls; lesions need one input tensor"
        )
    if len(layer_nodes) < 2:
        raise ValueError(
            f"lesions need a hidden layer: {type(model).__name__} has {len(layer_nodes)} "
            "Linear/Conv layer(s), expected at least 2"
        )
    calls: dict[str, int] = {}
    for n in nodes:
        if n.op == "call_module":
            calls[n.target] = calls.get(n.target, 0) + 1
    children = list(model._modules) if isinstance(model, nn.Sequential) else []
    widths = [_floats_per_example(n) for n in nodes]

    hidden, emitters, emitter_names, refusals, widest, seq = [], {}, {}, {}, {}, {}
    for g, node in enumerate(layer_nodes[:-1], start=1):
        if calls[node.target] > 1:
            refusals[g] = (
                f"is a second call of module {node.target!r}: its units cannot be "
                "silenced apart from the first call's"
            )
            continue
        end = _emitter(gm, node)
        if end.op != "call_module" or calls[end.target] > 1:
            what = (
                f"module {end.target!r}, called {calls[end.target]} times"
                if end.op == "call_module"
                else f"{end.op} {_describe_target(end.target)}"
            )
            refusals[g] = (
                f"leaves its layer through {what} (node {end.name!r}); lesions put a "
                "forward hook on the module where a group's units leave their layer "
                "(after BatchNorm, activation, pooling), so that op must be a module "
                "called once (e.g. nn.ReLU rather than F.relu)"
            )
            continue
        hidden.append(g)
        emitters[g] = gm.get_submodule(end.target)
        emitter_names[g] = end.target
        widest[g] = max([1] + widths[order[end] :])
        if end.target in children:
            seq[g] = children.index(end.target)
    if not hidden:
        raise ValueError(
            f"{type(model).__name__} has no group that lesions can silence: "
            + "; ".join(f"{names[g]} {why}" for g, why in refusals.items())
        )
    return LesionUnits(
        names=names,
        sizes=sizes,
        kinds=kinds,
        hidden=tuple(hidden),
        emitters=emitters,
        emitter_names=emitter_names,
        refusals=refusals,
        widest_after=widest,
        widest=max([1] + widths),
        sequential_index=seq,
        input_shape=tuple(int(s) for s in example.shape[1:]),
        n_outputs=sizes[-1],
    )


def _emitter(gm, node):
    """The last node of the single-reader chain of per-unit ops after ``node``."""
    end = node
    while len(end.users) == 1:
        (user,) = end.users
        if not user.args or user.args[0] is not end or not _per_unit(gm, user):
            break
        end = user
    return end


def _per_unit(gm, node) -> bool:
    if node.op == "call_module":
        return isinstance(gm.get_submodule(node.target), BATCHNORMS + PER_CHANNEL_MODULES)
    if node.op == "call_function":
        return node.target in PER_CHANNEL_FUNCTIONS
    return node.op == "call_method" and node.target in PER_CHANNEL_METHODS


def _describe_target(target) -> str:
    return getattr(target, "__name__", str(target))


def _floats_per_example(node) -> int:
    meta = node.meta.get("tensor_meta")
    shape = getattr(meta, "shape", None)
    if shape is None or len(shape) == 0 or shape[0] == 0:
        return 0
    return int(np.prod(shape)) // int(shape[0])
