"""Per-unit activations of a torch model on a data set, for functional modules.

The units are those of modcore's traced unit graph (:mod:`modcore.network.torch.trace`): the
output features of every Linear call and the output channels of every
convolution call, each call one group named by the module's qualified name
(``"features.3"``; a module called again gets ``"fc#2"``), and optionally the
input's features/channels (group ``"input"``). So functional labels and weight
labels match by (group name, unit index).

Which tensor is recorded: the *post-activation* value of the layer, as the 2021
paper did (its Keras layers had the activation inside, ``Dense(activation="relu")``,
and it saved each layer's output). From the layer's output the forward graph is
followed while the value has a single reader that keeps units in place: BatchNorm
(which the weight graph folds into the layer), dropout (identity in eval mode),
Identity and dtype/memory no-ops. The first elementwise activation met there
(ReLU, GELU, sigmoid, tanh, softmax, ... as a module, a function or a method) is
recorded; if another op comes first (pooling, flatten, an add, the next layer, the
output), the value reached so far is recorded instead: the logits of a last
Linear layer, a conv's BatchNorm output that feeds a residual add.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import fx, nn

from ..common.deprecation import renamed_keywords
from ..common.rounding import constant_along
from ..common.types import InputShape
from ..common.warn import warn_user
from ..network.checks import check_positive_int
from ..network.torch import MAP_NORMS
from ..network.torch.ops import (
    ACTIVATION_FUNCTIONS,
    ACTIVATION_METHODS,
    ACTIVATION_MODULES,
    BATCHNORMS,
    DROPOUT_FUNCTIONS,
    DROPOUT_MODULES,
    NO_OP_METHODS,
)
from ..network.torch.trace import _symbolic_trace, check_input_shape
from ..network.torch.trace_walk import LAYERS
from .datasets import Dataset

__all__ = ["Activations", "MAP_NORMS", "activations"]

# The old name of MAP_NORMS, kept for one release.
REDUCTIONS = MAP_NORMS

# Unit-preserving steps between a layer and its activation.
_PASS_MODULES = (*BATCHNORMS, *DROPOUT_MODULES, nn.Identity)


@dataclass(frozen=True, repr=False)
class Activations:
    """Per-unit activations of a model on a data set.

    Attributes
    ----------
    values : numpy.ndarray of shape (n_units, n_samples)
        Row ``i`` holds unit ``i``'s value on every sample (float32, or float64 for
        a float64 model). Only units that vary over the data are kept.
    group_names : tuple of str
        The recorded groups, in order of computation.
    group_sizes : tuple of int
        Units per group, dropped ones included.
    unit_group : numpy.ndarray of int64, shape (n_units,)
        Index into ``group_names`` of each row of ``values``.
    unit_index : numpy.ndarray of int64, shape (n_units,)
        Index of each row's unit within its group.
    dropped : tuple of (str, int)
        ``(group name, unit index)`` of the units dropped because they are
        constant over the data (dead ReLUs, pruned-away units, identical inputs):
        values within a few rounding steps of their dtype, as
        :func:`modcore.common.rounding.constant_along` says.
    map_norm : str
        How a conv channel's output map became its value (see :func:`activations`).
    """

    values: np.ndarray
    group_names: tuple
    group_sizes: tuple
    unit_group: np.ndarray
    unit_index: np.ndarray
    dropped: tuple
    map_norm: str

    @property
    def reduction(self) -> str:
        """Deprecated: the old name of :attr:`map_norm`."""
        warn_user(
            "Activations.reduction is deprecated and will be removed in the next release; "
            "use Activations.map_norm, the same value",
            DeprecationWarning,
        )
        return self.map_norm

    @property
    def n_units(self) -> int:
        return int(self.values.shape[0])

    @property
    def n_samples(self) -> int:
        return int(self.values.shape[1])

    @property
    def units(self) -> list:
        """``(group name, unit index)`` of each row of ``values``."""
        return [(self.group_names[g], int(i)) for g, i in zip(self.unit_group, self.unit_index)]

    def __repr__(self) -> str:
        groups = ", ".join(f"{n}: {s}" for n, s in zip(self.group_names, self.group_sizes))
        return (
            f"Activations(n_units={self.n_units}, n_samples={self.n_samples}, "
            f"groups=[{groups}], dropped={len(self.dropped)}, map_norm={self.map_norm!r})"
        )


@renamed_keywords(reduction="map_norm")
def activations(
    model: nn.Module,
    data: Dataset | torch.Tensor | np.ndarray,
    *,
    units: Sequence[str] | None = None,
    map_norm: str = "l2",
    batch_size: int = 1024,
    input_shape: InputShape = None,
) -> Activations:
    """Record every unit's activation of a torch model over a data set.

    One forward pass per batch of ``batch_size`` samples, under
    ``torch.no_grad`` with the model in eval mode (every module's training flag
    is restored afterwards). The forward is traced with ``torch.fx`` and
    rewritten to return the recorded tensors (see the module docstring for which
    tensor a unit's value is: the output of the activation that follows its
    Linear/conv layer). A Linear unit's value is its output feature; a conv
    channel's value is the norm ``map_norm`` of its output map.

    Parameters
    ----------
    model : torch.nn.Module
        A model with one input tensor, traceable by ``torch.fx`` (no control flow
        on tensor values).
    data : modcore.nn.Dataset, torch.Tensor or numpy.ndarray
        The inputs, batch first; of a Dataset its test split ``x_test`` is used
        (the 2021 paper recorded activations on the test set). Floating-point
        inputs, cast to the model's dtype and moved to its device batch by batch.
    units : sequence of str, optional
        Group names to record: Linear/conv module names as the tracer names
        them (``"features.3"``, ``"fc#2"`` for a second call), or ``"input"``
        for the input's dim-1 features/channels. Default: every Linear and
        conv group (not the input).
    map_norm : {"l2", "mean_abs", "max_column", "spectral"}, default="l2"
        The value of a conv channel from its output map ``a`` on one example (the
        activations; ``kernel_norm``, the readers' parameter, reduces a kernel's
        weights instead: the docs' user guide, "Conv channels as units", compares
        them). ``reduction=``, the old name of this parameter, still works for one
        release and warns (DeprecationWarning). The positions
        after the batch and channel dims, ``a[h, w]`` for a 2-D conv):
        ``"l2"``: ``sqrt(sum(a ** 2))`` over all positions;
        ``"mean_abs"``: ``mean(|a|)`` over all positions;
        ``"max_column"``: ``|a|`` summed over the height axis (the
        second-to-last), then the maximum over the remaining axes, i.e.
        numpy's matrix 1-norm ``np.linalg.norm(a, 1)`` of a 2-D map (a 1-D
        map's ``sum(|a|)``); the same definition as the tracer's
        ``kernel_norm="max_column"``;
        ``"spectral"``: the largest singular value of a 2-D ``(h, w)`` map,
        which is what the 2021 paper's code computed
        (``np.linalg.norm(acts, ord=2, axis=(1, 2))`` on channels-last maps:
        numpy's 2-norm of a matrix is its spectral norm, not the ``"l2"``
        above). Linear units are not reduced.
    batch_size : int, default=1024
        Samples per forward pass.
    input_shape : tuple of int, optional
        One input's shape without the batch dimension, as the readers'
        ``input_shape`` (:func:`modcore.spectral_cluster`). The model runs on the data
        itself, so here it is a check: a ValueError when the data's samples have
        another shape. None: no check.

    Returns
    -------
    Activations
        Units that are constant over the data are dropped, listed in
        ``Activations.dropped``, and announced by a ``UserWarning``.

    Raises
    ------
    TypeError
        If ``model`` is not a torch module, ``data`` not a floating-point tensor,
        array or Dataset, or ``units`` not a sequence of names.
    ValueError
        If fx cannot trace the model, it has no Linear/conv layer, the samples
        do not have the shape ``input_shape``, a name in
        ``units`` is unknown (the message lists the groups), ``map_norm`` is
        unknown (or ``"spectral"`` meets a map that is not 2-D), there are fewer
        than 2 samples, the model fails on the inputs (wrong shape), a Linear's
        output is not ``(batch, features)``, or an activation is NaN or infinite.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from modcore.nn import activations
    >>> model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    >>> x = torch.randn(50, 4, generator=torch.Generator().manual_seed(0))
    >>> acts = activations(model, x)
    >>> acts.values.shape[1], acts.group_names
    (50, ('0', '2'))
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if map_norm not in MAP_NORMS:
        raise ValueError(f"map_norm must be one of {MAP_NORMS}, got {map_norm!r}")
    batch_size = check_positive_int(batch_size, "batch_size")
    x = _inputs(data)
    if input_shape is not None and check_input_shape(input_shape) != tuple(x.shape[1:]):
        raise ValueError(
            f"input_shape is {tuple(input_shape)} but the data's samples have shape "
            f"{tuple(x.shape[1:])}"
        )
    if isinstance(model, LAYERS):  # named as the tracer names a bare layer
        model = nn.Sequential(OrderedDict([(type(model).__name__.lower(), model)]))
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    training = [(m, m.training) for m in model.modules()]
    per_group = None
    try:
        model.eval()  # before tracing, as the tracer does: a forward may branch on self.training
        gm = _symbolic_trace(model)
        chosen = _choose(_groups(gm), units)
        recorder = _recorder(gm, chosen, map_norm)
        with torch.no_grad():
            for start in range(0, len(x), batch_size):
                batch = x[start : start + batch_size].to(device, dtype)
                try:
                    out = recorder(batch)
                except RuntimeError as exc:  # torch's shape and dtype errors
                    raise ValueError(
                        f"running {type(model).__name__} on inputs of shape "
                        f"{tuple(batch.shape)} failed: {exc}"
                    ) from exc
                if per_group is None:
                    per_group = [torch.empty((len(x), t.shape[1]), dtype=t.dtype) for t in out]
                for buffer, t in zip(per_group, out):
                    buffer[start : start + len(t)] = t
    finally:
        for module, flag in training:
            module.training = flag
    assert per_group is not None  # _inputs checked there are at least 2 examples
    return _collect(chosen, per_group, map_norm)


# -- inputs and tracing -----------------------------------------------------------------


def _inputs(data) -> torch.Tensor:
    if hasattr(data, "x_test") and hasattr(data, "y_test"):
        data = data.x_test
    if isinstance(data, np.ndarray):
        data = torch.from_numpy(np.ascontiguousarray(data))
    if not isinstance(data, torch.Tensor):
        raise TypeError(
            f"data must be a modcore.nn.Dataset, a torch.Tensor or a numpy array "
            f"(batch first), got {type(data).__name__}"
        )
    if not data.is_floating_point():
        raise TypeError(
            f"data has dtype {data.dtype}; expected floating-point inputs, scaled "
            "as the model was trained (e.g. images divided by 255)"
        )
    if data.dim() < 2 or len(data) < 2:
        raise ValueError(
            f"data must be a batch of at least 2 samples, batch first, got shape "
            f"{tuple(data.shape)}"
        )
    return data


@dataclass
class _Group:
    name: str
    node: fx.Node  # the layer call, or the input placeholder
    is_linear: bool
    recorded: fx.Node | None = None
    size: int = 0


def _groups(gm: fx.GraphModule) -> list:
    """The input and every Linear/conv call, named as the tracer names them."""
    groups: list[_Group] = []
    calls: dict[str, int] = {}
    for node in gm.graph.nodes:
        if node.op == "placeholder" and not groups:
            groups.append(_Group("input", node, is_linear=False, recorded=node))
        elif node.op == "call_module" and isinstance(gm.get_submodule(node.target), LAYERS):
            name = str(node.target)
            n = calls[name] = calls.get(name, 0) + 1
            label, k = (name if n == 1 else f"{name}#{n}"), n
            while label in {g.name for g in groups}:
                k += 1
                label = f"{name}#{k}"
            is_linear = isinstance(gm.get_submodule(node.target), nn.Linear)
            groups.append(_Group(label, node, is_linear, recorded=_post_activation(gm, node)))
    if len(groups) < 2:
        raise ValueError("the model has no Linear or convolution layer whose units to record")
    return groups


def _post_activation(gm: fx.GraphModule, node: fx.Node) -> fx.Node:
    """The node whose value is the layer's post-activation output (module docstring)."""
    while len(node.users) == 1:
        user = next(iter(node.users))
        if not user.args or user.args[0] is not node:
            break
        kind = _kind(gm, user)
        if kind == "activation":
            return user
        if kind != "pass":
            break
        node = user
    return node


def _kind(gm: fx.GraphModule, node: fx.Node) -> str | None:
    if node.op == "call_module":
        module = gm.get_submodule(str(node.target))
        if isinstance(module, ACTIVATION_MODULES):
            return "activation"
        if isinstance(module, _PASS_MODULES):
            return "pass"
    elif node.op == "call_function":
        if node.target in ACTIVATION_FUNCTIONS:
            return "activation"
        if node.target in DROPOUT_FUNCTIONS:
            return "pass"
    elif node.op == "call_method":
        if node.target in ACTIVATION_METHODS:
            return "activation"
        if node.target in NO_OP_METHODS:
            return "pass"
    return None


def _choose(groups: list, units) -> list:
    if units is None:
        return groups[1:]
    if isinstance(units, (str, bytes)) or not hasattr(units, "__iter__"):
        raise TypeError(f"units must be a sequence of group names, got {type(units).__name__}")
    by_name = {g.name: g for g in groups}
    chosen = []
    for name in units:
        if name not in by_name:
            raise ValueError(
                f"units names an unknown group {name!r}; the model's groups are {list(by_name)}"
            )
        if by_name[name] not in chosen:
            chosen.append(by_name[name])
    if not chosen:
        raise ValueError("units is empty: name at least one group")
    return sorted(chosen, key=groups.index)


def _recorder(gm: fx.GraphModule, chosen: list, map_norm: str) -> fx.GraphModule:
    """The traced forward, returning each chosen group's per-unit values.

    Each map's norm is taken right after its tensor is computed, so a later in-place
    op cannot change what is recorded, and full conv maps are not kept.
    """
    graph = gm.graph
    outputs = []
    for g in chosen:
        with graph.inserting_after(g.recorded):
            outputs.append(
                graph.call_function(_unit_values, (g.recorded, map_norm, g.name, g.is_linear))
            )
    old = next(n for n in graph.nodes if n.op == "output")
    graph.erase_node(old)
    graph.output(tuple(outputs))
    gm.recompile()
    return gm


def _unit_values(t, map_norm: str, name: str, is_linear: bool) -> torch.Tensor:
    """``(batch, units)`` values of one group's recorded tensor."""
    if not isinstance(t, torch.Tensor) or t.dim() < 2:
        raise ValueError(
            f"group {name!r}: expected a (batch, units, ...) tensor, got "
            f"{getattr(t, 'shape', type(t).__name__)}"
        )
    if t.dim() == 2:
        out = t
    elif is_linear:
        raise ValueError(
            f"group {name!r} is a Linear whose output has shape {tuple(t.shape)}; "
            "modcore records Linear units from (batch, features) outputs"
        )
    else:
        out = _reduce(t, map_norm, name)
    if not out.is_floating_point() or out.dtype in (torch.float16, torch.bfloat16):
        out = out.float()
    return out


def _reduce(t: torch.Tensor, map_norm: str, name: str) -> torch.Tensor:
    """Reduce ``(batch, channels, *positions)`` over the positions."""
    if map_norm == "l2":
        return torch.linalg.vector_norm(t.flatten(2), dim=2)
    if map_norm == "mean_abs":
        return t.flatten(2).abs().mean(dim=2)
    if map_norm == "max_column":
        if t.dim() == 3:
            return t.abs().sum(dim=2)
        return t.abs().sum(dim=-2).flatten(2).amax(dim=2)
    if t.dim() != 4:
        raise ValueError(
            f"map_norm 'spectral' needs 2-D maps, but group {name!r} has maps of "
            f"shape {tuple(t.shape[2:])}"
        )
    return torch.linalg.matrix_norm(t, ord=2)


# -- collecting ---------------------------------------------------------------------------


def _collect(chosen: list, per_group: list, map_norm: str) -> Activations:
    dtype = np.float64 if any(v.dtype == torch.float64 for v in per_group) else np.float32
    varies = []
    for group, v in zip(chosen, per_group):
        if not torch.isfinite(v).all():
            raise ValueError(f"group {group.name!r} has NaN or infinite activations")
        varies.append(~constant_along(v.numpy(), axis=0))
    values = np.empty((sum(int(k.sum()) for k in varies), per_group[0].shape[0]), dtype=dtype)
    unit_group: list[np.ndarray] = []
    unit_index: list[np.ndarray] = []
    dropped: list[tuple[str, int]] = []
    row = 0
    for g, (group, v, keep) in enumerate(zip(chosen, per_group, varies)):
        index = np.flatnonzero(keep)
        values[row : row + index.size] = v.numpy()[:, index].T
        row += index.size
        unit_group.append(np.full(index.size, g, dtype=np.int64))
        unit_index.append(index.astype(np.int64))
        dropped.extend((group.name, int(i)) for i in np.flatnonzero(~keep))
    if dropped:
        shown = ", ".join(f"{n}[{i}]" for n, i in dropped[:8])
        more = f", ... ({len(dropped)} in all)" if len(dropped) > 8 else ""
        warn_user(
            f"dropped {len(dropped)} unit(s) with zero variance over the data (constant "
            f"activation, up to rounding): {shown}{more}",
            UserWarning,
        )
    return Activations(
        values=values,
        group_names=tuple(g.name for g in chosen),
        group_sizes=tuple(int(v.shape[1]) for v in per_group),
        unit_group=np.concatenate(unit_group),
        unit_index=np.concatenate(unit_index),
        dropped=tuple(dropped),
        map_norm=map_norm,
    )
