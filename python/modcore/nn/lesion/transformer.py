"""Lesions of a transformer's MLP neurons, under ``view="blocks"`` or ``view="virtual"``.

The groups are those of the view (:mod:`modcore.network.transformer`): each MLP's neurons
(blocks), or every group of the virtual graph, of which the MLPs' neurons can be lesioned.
Neuron j of an MLP is silenced where the MLP's output projection reads the activations: a
hook multiplies the activations by a 0/1 mask over their last dimension, so the output is
exactly that of a copy whose ``W_out`` has neuron j's weights zeroed (column j of a torch
Linear's ``(out, in)`` weight, row j of GPT-2's ``(in, out)`` Conv1D; tested by hand).
The hook sits on the MLP's output projection (torch.nn's ``linear2``, GPT-2's
``mlp.c_proj``, a forward pre-hook) or on TransformerLens' ``mlp.hook_post``.

Nothing else is lesioned. Attention heads have no module whose output is one head alone
(``nn.MultiheadAttention`` applies its output projection inside one function call), so a
head cannot be silenced by a hook without rewriting the layer; tokens, positions, inputs
and logits are the model's inputs and outputs. Their groups are refused by name, and in a
study a module's sub-modules in them are left out: only its MLP neurons are lesioned.

Accuracy: ``y`` holds a class per output position (the model's output, or its
``.logits``, without the last dimension: ``(n,)`` for a classifier, ``(n, seq)`` for a
sequence model), and a negative label leaves that position unscored. A lesion is one
forward pass over the whole data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ...method.cluster import Clustering
from ...network import transformer as mt
from ...network.transformer.stream import Heads, StreamMap
from .evaluate import _eval_mode
from .units import check_group_labels, group_index

__all__ = ["TransformerUnits", "transformer_units"]


@dataclass(frozen=True, repr=False)
class TransformerUnits:
    """A transformer's groups under a view and where its MLP neurons are silenced.

    Attributes
    ----------
    names, sizes : tuple
        Per group: its name (an MLP's is its module's name) and number of units.
    nouns : tuple
        Per group: "neurons", "heads" or "units".
    hidden : tuple of int
        The groups that can be lesioned: the MLPs.
    silencers : dict
        Group index -> (module, True for a forward pre-hook on its input, False for a
        forward hook on its output).
    view : str
    scored : torch.Tensor
        Boolean, the shape of ``y``: the positions scored.
    n_outputs : int
        Classes of the output (its last dimension).
    """

    names: tuple
    sizes: tuple
    nouns: tuple
    hidden: tuple
    silencers: dict
    view: str
    scored: torch.Tensor
    n_outputs: int

    def noun(self, group: int) -> str:
        return self.nouns[group]

    def check_group(self, group: int | str) -> int:
        """The index of an MLP group given by index or name; a ValueError for any other."""
        group = group_index(group, self.names)
        if not 0 <= group < len(self.names):
            raise ValueError(f"no group {group}: the view has {len(self.names)} groups")
        if group not in self.hidden:
            raise ValueError(
                f"group {group} ({self.names[group]}) holds {self.nouns[group]}: a transformer's "
                f"lesions silence MLP neurons only, in {[self.names[g] for g in self.hidden]} "
                "(docs: Transformers, lesions)"
            )
        return group

    def check_labels(self, labels: Any) -> list:
        """Labels of every group (-1 where there are none): a Clustering of the view's
        network, ``{MLP name: Clustering}`` (what ``view="blocks"`` gives), each matched
        by group name, or one label array per group."""
        if isinstance(labels, Mapping):
            full = [np.full(size, -1, dtype=np.int64) for size in self.sizes]
            for name, clustering in labels.items():
                if not isinstance(clustering, Clustering) or name not in clustering.group_names:
                    raise ValueError(f"labels[{name!r}] is not a Clustering with a group {name!r}")
                if name in self.names:
                    group = clustering.group_names.index(name)
                    full[self.names.index(name)] = np.asarray(clustering.labels[group])
            labels = full
        return check_group_labels(labels, self.names, self.sizes, self.nouns)

    @torch.no_grad()
    def counts(
        self, model: nn.Module, x, y, lesions: Sequence, n_classes: int, reporter
    ) -> np.ndarray:
        """Per-class correct counts (shape (len(lesions), n_classes)) of the scored positions,
        one forward pass per lesion; ``lesions`` as :func:`~.evaluate._evaluate` takes them,
        ``[{}]`` for the intact model."""
        counts = np.zeros((len(lesions), n_classes), dtype=np.int64)
        x = x.to(_device(model))
        for i, lesion in enumerate(lesions):
            masks = {}
            for g, neurons in lesion.items():
                mask = torch.ones(self.sizes[g])
                mask[torch.as_tensor(neurons, dtype=torch.long)] = 0
                masks[g] = mask
            with silenced(self, masks):
                pred = _logits(model(x)).argmax(dim=-1)[self.scored].cpu()
            correct = (pred == y).long()
            counts[i] = torch.zeros(n_classes, dtype=torch.long).index_add_(0, y, correct).numpy()
            if reporter is not None:
                reporter.update(1)
        return counts

    def __repr__(self) -> str:
        groups = ", ".join(
            f"{n}: {s}" + ("*" if g in self.hidden else "")
            for g, (n, s) in enumerate(zip(self.names, self.sizes))
        )
        return f"TransformerUnits(view={self.view!r}, [{groups}], * = lesionable)"


def transformer_units(model: nn.Module, data: Any, view: str) -> tuple:
    """``(units, x, y)``: the model's groups under ``view``, its inputs, and the labels of
    the scored positions, flat (one per prediction the accuracy counts)."""
    mt.check_view(view)
    if view is None:
        raise ValueError("a transformer's lesions need view='blocks' or view='virtual'")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    read = mt.read(model)
    mlps = [mlp.name for mlp in read.mlps]
    if not mlps:
        raise ValueError(f"{read.kind} has no MLP: a transformer's lesions silence MLP neurons")
    if view == "blocks":
        names = tuple(mlps)
        sizes = tuple(mlp.w_in.shape[1] for mlp in read.mlps)
        nouns = ("neurons",) * len(names)
    else:
        steps = [s for s in read.steps if not isinstance(s, StreamMap)]
        names, sizes = tuple(s.name for s in steps), tuple(s.size for s in steps)
        nouns = tuple(
            "heads" if isinstance(s, Heads) else "neurons" if s.name in mlps else "units"
            for s in steps
        )
    hidden = tuple(g for g, name in enumerate(names) if name in mlps)
    x, y, scored, n_outputs = _checked_data(model, data)
    units = TransformerUnits(
        names=names,
        sizes=sizes,
        nouns=nouns,
        hidden=hidden,
        silencers={g: _silencer(model, names[g]) for g in hidden},
        view=view,
        scored=scored,
        n_outputs=n_outputs,
    )
    return units, x, y[scored]


def _silencer(model: nn.Module, name: str) -> tuple:
    """(module, pre-hook?) where the neurons of the MLP ``name`` are read by its output
    projection."""
    mlp = model.get_submodule(name)
    if isinstance(mlp, nn.Linear):  # torch.nn: linear1, in a layer whose linear2 reads it
        layer = model.get_submodule(name.rpartition(".")[0])
        return layer.linear2, True
    if hasattr(mlp, "c_proj"):  # Hugging Face GPT-2
        return mlp.c_proj, True
    if hasattr(mlp, "hook_post"):  # TransformerLens
        return mlp.hook_post, False
    raise ValueError(f"{name}: no output projection found to silence its neurons at")


def _logits(out) -> torch.Tensor:
    out = getattr(out, "logits", out)
    if not isinstance(out, torch.Tensor):
        raise ValueError(
            f"the model returned a {type(out).__name__}: lesions need a tensor of logits "
            "(or an output with .logits)"
        )
    return out


def _checked_data(model: nn.Module, data) -> tuple:
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise TypeError(f"data must be an (x, y) pair, got {type(data).__name__}")
    x, y = torch.as_tensor(data[0]), torch.as_tensor(data[1])
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise TypeError(f"labels must be class indices (integers), got {y.dtype}")
    y = y.long()
    with torch.no_grad(), _eval_mode(model):
        out = _logits(model(x.to(_device(model))))
    if tuple(out.shape[:-1]) != tuple(y.shape):
        raise ValueError(
            f"the model's output has shape {tuple(out.shape)}, so the labels must have shape "
            f"{tuple(out.shape[:-1])} (a class per output position, negative: not scored); "
            f"got {tuple(y.shape)}"
        )
    scored = y >= 0
    if not bool(scored.any()):
        raise ValueError("no label is >= 0: no position is scored")
    n_outputs = int(out.shape[-1])
    if int(y.max()) >= n_outputs:
        raise ValueError(f"labels must be < {n_outputs} (the output's classes), got {int(y.max())}")
    return x, y, scored, n_outputs


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@contextmanager
def silenced(units: TransformerUnits, masks: dict):
    """Hooks that multiply the activations of each group ``g`` of ``masks`` by
    ``masks[g]`` (a 0/1 tensor over its neurons); a RuntimeError after the forward pass
    if a hook did not run (the model took another path than its modules)."""
    fired: set = set()

    def scale(group, value):
        fired.add(group)
        if not isinstance(value, torch.Tensor) or value.shape[-1] != units.sizes[group]:
            raise ValueError(
                f"{units.names[group]}: expected activations with {units.sizes[group]} "
                f"neurons on the last dimension, got {getattr(value, 'shape', type(value))}"
            )
        return value * masks[group].to(dtype=value.dtype, device=value.device)

    handles = []
    for g in masks:
        module, pre = units.silencers[g]
        if pre:
            handles.append(
                module.register_forward_pre_hook(
                    lambda m, args, g=g: (scale(g, args[0]), *args[1:])
                )
            )
        else:
            handles.append(module.register_forward_hook(lambda m, args, out, g=g: scale(g, out)))
    try:
        yield fired
    finally:
        for handle in handles:
            handle.remove()
    missing = [units.names[g] for g in masks if g not in fired]
    if missing:
        raise RuntimeError(f"the forward pass did not run the hooks of {missing}")
