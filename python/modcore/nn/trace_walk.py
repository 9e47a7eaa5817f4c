"""The walk over a traced model: which ops modcore reads and how each one moves
the units' pieces (see :mod:`modcore.nn.trace` for the rules)."""

from __future__ import annotations

import numbers
import operator
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.fx.passes.shape_prop import TensorMetadata

from ..network import Network
from .ops import (
    ACTIVATION_FUNCTIONS,
    ACTIVATION_METHODS,
    ACTIVATION_MODULES,
    BATCHNORMS,
    DROPOUT_FUNCTIONS,
    DROPOUT_MODULES,
    NO_OP_METHODS,
    functions,
)

__all__ = ["CONVS", "LAYERS", "GraphWalk", "describe"]

CONVS = (
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
)
LAYERS = (nn.Linear, *CONVS)
# Elementwise, per-channel or spatial-only modules: channels pass through.
_PASS_MODULES = (
    *ACTIVATION_MODULES,
    *DROPOUT_MODULES,
    nn.Identity,
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AvgPool3d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.AdaptiveMaxPool3d,
    nn.LPPool1d,
    nn.LPPool2d,
    nn.ZeroPad1d,
    nn.ZeroPad2d,
    nn.ZeroPad3d,
    nn.ConstantPad1d,
    nn.ConstantPad2d,
    nn.ConstantPad3d,
    nn.ReflectionPad1d,
    nn.ReflectionPad2d,
    nn.ReflectionPad3d,
    nn.ReplicationPad1d,
    nn.ReplicationPad2d,
    nn.ReplicationPad3d,
    nn.CircularPad1d,
    nn.CircularPad2d,
    nn.CircularPad3d,
    nn.Upsample,
    nn.UpsamplingNearest2d,
    nn.UpsamplingBilinear2d,
)
_RESHAPE_MODULES = (nn.Flatten, nn.Unflatten)


_PASS_FUNCTIONS = (
    ACTIVATION_FUNCTIONS
    | DROPOUT_FUNCTIONS
    | functions(
        F,
        (
            "max_pool1d",
            "max_pool2d",
            "max_pool3d",
            "avg_pool1d",
            "avg_pool2d",
            "avg_pool3d",
            "adaptive_avg_pool1d",
            "adaptive_avg_pool2d",
            "adaptive_avg_pool3d",
            "adaptive_max_pool1d",
            "adaptive_max_pool2d",
            "adaptive_max_pool3d",
            "lp_pool1d",
            "lp_pool2d",
            "pad",
            "interpolate",
        ),
    )
    | functions(
        torch, ("max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "adaptive_avg_pool1d")
    )
)
_PASS_METHODS = ACTIVATION_METHODS | NO_OP_METHODS
_RESHAPE_FUNCTIONS = functions(torch, ("flatten", "reshape", "squeeze", "unsqueeze"))
_RESHAPE_METHODS = frozenset(
    ("view", "reshape", "flatten", "squeeze", "unsqueeze", "view_as", "reshape_as")
)
_REDUCE_FUNCTIONS = functions(torch, ("mean", "sum", "amax", "amin"))
_REDUCE_METHODS = frozenset(("mean", "sum", "amax", "amin"))
_ADD = {
    operator.add: 1,
    operator.iadd: 1,
    torch.add: 1,
    "add": 1,
    "add_": 1,
    operator.sub: -1,
    operator.isub: -1,
    torch.sub: -1,
    "sub": -1,
    "sub_": -1,
}
_SCALE = {
    operator.mul: False,
    operator.imul: False,
    torch.mul: False,
    "mul": False,
    "mul_": False,
    operator.truediv: True,
    operator.itruediv: True,
    torch.div: True,
    "div": True,
    "div_": True,
    "true_divide": True,
}
_NEG = frozenset((operator.neg, torch.neg, "neg", "neg_"))
_CAT = functions(torch, ("cat", "concat", "concatenate"))
# Ops that read only a tensor's metadata (shape, dtype, ...), never its values.
_META_METHODS = frozenset(("size", "dim", "ndimension", "numel", "nelement"))
_META_ATTRS = frozenset(("shape", "dtype", "device", "ndim", "is_cuda"))
_IN_PLACE = frozenset((operator.iadd, operator.isub, operator.imul, operator.itruediv))
_SUPPORTED = (
    "modcore reads Linear and Conv layers, BatchNorm, activations, dropout, pooling, "
    "padding, flattening reshapes, mean over spatial dims, scaling by a scalar, "
    "residual add/sub and channel cat"
)


@dataclass(frozen=True)
class _Piece:
    """Feature ``f`` of a tensor carries unit ``units[f]`` of ``group`` times
    ``scale[f]`` (``units[f] == -1``: not from this group)."""

    group: int
    units: torch.Tensor
    scale: torch.Tensor

    def take(self, index: torch.Tensor) -> _Piece:
        return _Piece(self.group, self.units[index], self.scale[index])

    def scaled(self, factor) -> _Piece:
        return _Piece(self.group, self.units, self.scale * factor)


@dataclass(frozen=True)
class _Flow:
    """A tensor computed from the input: its pieces along dim 1, and its shape."""

    pieces: tuple
    shape: tuple

    def scaled(self, factor, shape=None) -> _Flow:
        return _Flow(tuple(p.scaled(factor) for p in self.pieces), shape or self.shape)

    def take(self, index, shape) -> _Flow:
        return _Flow(tuple(p.take(index) for p in self.pieces), shape)


class GraphWalk:
    """Reads a traced, shape-propagated GraphModule node by node into groups and blocks."""

    def __init__(self, gm: fx.GraphModule, kernel_norm: str):
        self.gm = gm
        self.kernel_norm = kernel_norm
        self.groups: list[tuple[str, int, str]] = []  # (name, size, kind)
        self.blocks: dict[tuple[int, int], list] = {}  # dense tensors / COO triples
        # node -> _Flow, or None for values not computed from the input
        self.values: dict[fx.Node, _Flow | None] = {}
        self.calls: dict[str, int] = {}

    # -- groups and blocks --

    def _new_group(self, name: str, size: int, kind: str) -> int:
        n = self.calls[name] = self.calls.get(name, 0) + 1
        label = name if n == 1 else f"{name}#{n}"
        taken = {g[0] for g in self.groups}
        k = n
        while label in taken:
            k += 1
            label = f"{name}#{k}"
        self.groups.append((label, size, kind))
        return len(self.groups) - 1

    def _own_flow(self, group: int, shape) -> _Flow:
        n = shape[1]
        return _Flow(
            (_Piece(group, torch.arange(n), torch.ones(n, dtype=torch.float64)),), tuple(shape)
        )

    def _connect_dense(self, flow: _Flow, kernel: torch.Tensor, dst: int):
        """``kernel[f, u]``: the edge from feature ``f`` of ``flow`` to unit ``u`` of ``dst``
        (absolute values taken here)."""
        n_features, n_dst = kernel.shape
        step = max(1, (1 << 22) // n_dst)  # bounds the float64 copy of a huge Linear
        for p in flow.pieces:
            block = torch.zeros(self.groups[p.group][1], n_dst, dtype=torch.float64)
            for start in range(0, n_features, step):
                units = p.units[start : start + step]
                live = units >= 0
                if live.any():
                    rows = kernel[start : start + step][live].to(torch.float64).abs()
                    scale = p.scale[start : start + step][live].abs()
                    block.index_add_(0, units[live], rows * scale[:, None])
            self.blocks.setdefault((p.group, dst), []).append(block)

    def _connect_sparse(self, flow: _Flow, feature, unit, value, dst: int):
        """Edges ``value[e] >= 0`` from feature ``feature[e]`` to unit ``unit[e]`` of ``dst``."""
        for p in flow.pieces:
            src = p.units[feature]
            live = src >= 0
            coo = (src[live], unit[live], value[live] * p.scale[feature][live].abs())
            self.blocks.setdefault((p.group, dst), []).append(coo)

    # -- the nodes --

    def run(self):
        for node in self.gm.graph.nodes:
            if node.op == "output":
                continue
            if node.op == "placeholder":
                if self.groups:  # a forward argument fixed at its default
                    if not node.args:
                        raise self._error(node, "the model takes a second input")
                    self.values[node] = None
                    continue
                shape = self._shape(node)
                if shape is None or len(shape) < 2:
                    raise self._error(
                        node, "the input must be a tensor with a feature dim after the batch dim"
                    )
                self.values[node] = self._own_flow(
                    self._new_group("input", shape[1], "input"), shape
                )
                continue
            if not any(isinstance(self.values.get(a), _Flow) for a in node.all_input_nodes):
                self.values[node] = None  # a constant, a shape, a parameter
                continue
            value = self._visit(node)
            self.values[node] = value
            # An in-place op changes its first argument for every later reader.
            if self._in_place(node) and isinstance(self.values.get(node.args[0]), _Flow):
                self.values[node.args[0]] = value

    def _visit(self, node):
        target = node.target
        if node.op == "call_module":
            module = self.gm.get_submodule(target)
            if isinstance(module, nn.Linear):
                return self._linear(node, module)
            if isinstance(module, CONVS):
                return self._conv(node, module)
            if isinstance(module, BATCHNORMS):
                return self._batchnorm(node, module)
            if isinstance(module, _RESHAPE_MODULES):
                return self._reshape(node)
            if isinstance(module, _PASS_MODULES):
                return self._pass(node)
            raise self._error(node, "is not a layer modcore can read")
        if node.op == "call_method":
            if target in _META_METHODS:
                return None
            if target in _PASS_METHODS:
                return self._pass(node)
            if target in _RESHAPE_METHODS:
                return self._reshape(node)
            if target in _REDUCE_METHODS:
                return self._reduce(node)
        if node.op == "call_function":
            if target is getattr and node.args[1] in _META_ATTRS:
                return None
            if target in _PASS_FUNCTIONS:
                return self._pass(node)
            if target in _RESHAPE_FUNCTIONS:
                return self._reshape(node)
            if target in _REDUCE_FUNCTIONS:
                return self._reduce(node)
            if target in _CAT:
                return self._cat(node)
        if node.op in ("call_method", "call_function"):
            if target in _ADD:
                return self._add(node, _ADD[target])
            if target in _SCALE:
                return self._scale(node, _SCALE[target])
            if target in _NEG:
                return self._scale(node, False, factor=-1.0)
        raise self._error(node, "is not an op modcore can read")

    def _linear(self, node, module: nn.Linear) -> _Flow:
        flow = self._flow_arg(node)
        if len(flow.shape) != 2:
            raise self._error(
                node,
                f"applies a Linear to a {len(flow.shape)}-D tensor of shape "
                f"{flow.shape}; modcore reads a Linear on (batch, features): "
                "flatten conv channels first (nn.Flatten, x.flatten(1))",
            )
        weight = _weight(module)  # (out, in)
        scale = self._folded_bn_scale(node)
        if scale is not None:
            weight = weight.double() * scale[:, None]
        group = self._new_group(node.target, module.out_features, "dense")
        self._connect_dense(flow, weight.t(), group)
        return self._own_flow(group, self._shape(node))

    def _conv(self, node, module) -> _Flow:
        flow = self._flow_arg(node)
        n_spatial = len(module.kernel_size)
        if len(flow.shape) != 2 + n_spatial:
            raise self._error(
                node,
                f"expects a (batch, channels, {n_spatial} spatial dims) "
                f"input, got shape {flow.shape}",
            )
        weight = _weight(module).double()
        if module.transposed:  # (in, out / groups, *k) -> (out, in / groups, *k)
            g = module.groups
            w_in, w_out = weight.shape[0] // g, weight.shape[1]
            weight = (
                weight.reshape(g, w_in, w_out, *weight.shape[2:])
                .transpose(1, 2)
                .reshape(g * w_out, w_in, *weight.shape[2:])
            )
        scale = self._folded_bn_scale(node)
        if scale is not None:
            weight = weight * scale.reshape(-1, *([1] * (weight.dim() - 1)))
        norms = _kernel_norms(weight, self.kernel_norm)  # (out, in / groups)
        n_out, in_per_group = norms.shape
        group = self._new_group(node.target, n_out, "conv")
        if module.groups == 1:
            self._connect_dense(flow, norms.t(), group)
        else:  # input channel (g, i) reaches only the output channels of group g
            unit = torch.arange(n_out).repeat_interleave(in_per_group)
            local = torch.arange(in_per_group).repeat(n_out)
            feature = (unit // (n_out // module.groups)) * in_per_group + local
            self._connect_sparse(flow, feature, unit, norms.reshape(-1), group)
        return self._own_flow(group, self._shape(node))

    def _folded_bn_scale(self, node):
        """The BatchNorm scale folded into this layer: when its output's one reader is a BN."""
        users = list(node.users)
        if len(users) != 1 or users[0].op != "call_module":
            return None
        bn = self.gm.get_submodule(users[0].target)
        if not isinstance(bn, BATCHNORMS) or users[0].args[0] is not node:
            return None
        return self._bn_scale(users[0], bn)

    def _bn_scale(self, node, bn) -> torch.Tensor:
        if bn.running_var is None:
            raise self._error(
                node,
                "has no running statistics (track_running_stats=False), so "
                "it normalizes with batch statistics: no fixed scale to fold",
            )
        var = bn.running_var.detach().to("cpu", torch.float64)
        gamma = (
            bn.weight.detach().to("cpu", torch.float64)
            if bn.weight is not None
            else torch.ones_like(var)
        )
        return gamma / torch.sqrt(var + bn.eps)

    def _batchnorm(self, node, bn) -> _Flow:
        flow = self._flow_arg(node)
        producer = node.args[0]
        if (
            producer.op == "call_module"
            and isinstance(self.gm.get_submodule(producer.target), LAYERS)
            and self._folded_bn_scale(producer) is not None
        ):
            return _Flow(flow.pieces, self._shape(node))  # folded into the producer
        scale = self._bn_scale(node, bn)
        if scale.numel() != flow.shape[1]:
            raise self._error(
                node, f"has {scale.numel()} features but its input has {flow.shape[1]}"
            )
        return flow.scaled(scale, self._shape(node))

    def _pass(self, node) -> _Flow:
        return self._keep(node, self._flow_arg(node))

    def _keep(self, node, flow: _Flow) -> _Flow:
        """``flow`` as the node's output, which must keep its batch and channel dims."""
        shape = self._shape(node)
        if shape is None or len(shape) < 2 or shape[:2] != flow.shape[:2]:
            raise self._error(
                node,
                f"changes the batch or channel dim ({flow.shape} -> "
                f"{shape if shape is not None else 'not one tensor'})",
            )
        return _Flow(flow.pieces, shape)

    def _reshape(self, node) -> _Flow:
        """Reshapes that keep (batch, channels) or flatten channels with the dims after them."""
        flow = self._flow_arg(node)
        old, new = flow.shape, self._shape(node)
        if new is not None and len(new) >= 2 and new[0] == old[0]:
            if new[1] == old[1]:
                return _Flow(flow.pieces, new)
            for k in range(3, len(old) + 1):
                # Dims 1 .. k-1 merge into dim 1, channel-major: feature f is old feature
                # f // prod(old[2:k]).
                if int(np.prod(old[1:k])) == new[1] and int(np.prod(old[k:])) == int(
                    np.prod(new[2:])
                ):
                    per_feature = int(np.prod(old[2:k]))
                    return flow.take(torch.arange(new[1]) // per_feature, new)
        raise self._error(
            node,
            f"reshapes {old} to {new}; modcore reads only reshapes that "
            "keep the batch and channel dims or flatten the channels with "
            "the dims after them (x.flatten(1), x.view(x.size(0), -1))",
        )

    def _reduce(self, node) -> _Flow:
        """mean / sum / amax / amin over spatial dims only (global pooling)."""
        flow = self._flow_arg(node)
        dims = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
        if dims is None:
            raise self._error(node, "reduces over all dims, channels included")
        dims = (dims,) if isinstance(dims, int) else tuple(dims)
        ndim = len(flow.shape)
        if any(not isinstance(d, int) or d % ndim < 2 for d in dims):
            raise self._error(
                node,
                f"reduces over dims {dims}; modcore reads reductions over "
                "spatial dims (2 and later) only",
            )
        return self._pass(node)

    def _add(self, node, sign: int) -> _Flow:
        shape = self._shape(node)
        alpha = node.kwargs.get("alpha", 1)
        factor = self._scalar(alpha) if alpha != 1 else 1.0
        if factor is None:
            raise self._error(node, "has an alpha that is not a number")
        pieces: list[_Piece] = []
        for arg, s in zip(node.args[:2], (1.0, sign * factor)):
            value = self.values.get(arg) if isinstance(arg, fx.Node) else None
            if isinstance(value, _Flow):
                pieces += self._broadcast(node, value, shape).scaled(s).pieces
        return _Flow(tuple(pieces), shape)

    def _broadcast(self, node, flow: _Flow, shape) -> _Flow:
        if shape is None or len(shape) != len(flow.shape) or shape[0] != flow.shape[0]:
            raise self._error(
                node,
                f"broadcasts {flow.shape} to {shape if shape is not None else 'not one tensor'}",
            )
        if flow.shape[1] == shape[1]:
            return _Flow(flow.pieces, shape)
        if flow.shape[1] == 1:
            return flow.take(torch.zeros(shape[1], dtype=torch.long), shape)
        raise self._error(node, f"broadcasts channels {flow.shape} to {shape}")

    def _scale(self, node, divide: bool, factor=None) -> _Flow:
        flows = [
            a
            for a in node.args[:2]
            if isinstance(a, fx.Node) and isinstance(self.values.get(a), _Flow)
        ]
        if len(flows) == 2:
            raise self._error(
                node,
                "multiplies two tensors computed from the input (gating or "
                "attention); only scaling by a scalar keeps the graph linear",
            )
        flow_arg = flows[0]
        if factor is None:
            if divide and node.args[0] is not flow_arg:
                raise self._error(node, "divides by a tensor computed from the input")
            other = node.args[1] if node.args[0] is flow_arg else node.args[0]
            factor = self._scalar(other)
            if factor is None:
                raise self._error(node, "multiplies by a tensor that is not a scalar")
            if divide:
                if factor == 0:
                    raise self._error(node, "divides by zero")
                factor = 1.0 / factor
        return self._keep(node, cast(_Flow, self.values[flow_arg])).scaled(factor)

    def _cat(self, node) -> _Flow:
        tensors = node.args[0]
        dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
        shape = self._shape(node)
        if shape is None or dim % len(shape) != 1:
            raise self._error(
                node, f"concatenates along dim {dim}; modcore reads a cat along the channel dim 1"
            )
        pieces, offset = [], 0
        for arg in tensors:
            value = self.values.get(arg) if isinstance(arg, fx.Node) else None
            width = (
                value.shape[1]
                if isinstance(value, _Flow)
                else self._shape(arg)[1]
                if isinstance(arg, fx.Node) and self._shape(arg)
                else None
            )
            if width is None:
                raise self._error(node, "concatenates something that is not a tensor")
            if isinstance(value, _Flow):
                for p in value.pieces:
                    units = torch.full((shape[1],), -1, dtype=torch.long)
                    scale = torch.zeros(shape[1], dtype=torch.float64)
                    units[offset : offset + width] = p.units
                    scale[offset : offset + width] = p.scale
                    pieces.append(_Piece(p.group, units, scale))
            offset += width
        return _Flow(tuple(pieces), shape)

    # -- helpers --

    def _flow_arg(self, node) -> _Flow:
        """The one input computed from the input, which must be the first argument."""
        flows: list[fx.Node] = [
            a for a in node.all_input_nodes if isinstance(self.values.get(a), _Flow)
        ]
        first = node.args[0] if node.args else next(iter(node.kwargs.values()), None)
        if len(flows) != 1 or first is not flows[0]:
            raise self._error(
                node, "combines tensors computed from the input in a way modcore cannot read"
            )
        return cast(_Flow, self.values[flows[0]])

    def _shape(self, node):
        meta = node.meta.get("tensor_meta")
        return tuple(meta.shape) if isinstance(meta, TensorMetadata) else None

    def _scalar(self, arg):
        if isinstance(arg, numbers.Real) and not isinstance(arg, bool):
            return float(arg)
        if isinstance(arg, fx.Node) and not isinstance(self.values.get(arg), _Flow):
            return arg.meta.get("modcore_scalar")
        return None

    @staticmethod
    def _in_place(node) -> bool:
        return node.target in _IN_PLACE or (node.op == "call_method" and node.target.endswith("_"))

    def _error(self, node, why: str) -> ValueError:
        return ValueError(
            f"cannot read node {node.name!r} ({describe(node, self.gm)}): {why}. {_SUPPORTED}"
        )

    # -- the result --

    def network(self, drop_kinds: set) -> Network:
        keep = [i for i, g in enumerate(self.groups) if g[2] not in drop_kinds]
        if not any(self.groups[i][2] != "input" for i in keep):
            raise ValueError(
                "no layer group left: the model has no "
                + (
                    "Linear or Conv layer"
                    if "dense" not in drop_kinds
                    else "Conv layer (include_dense=False drops Linear layers)"
                )
            )
        names = {i: self.groups[i][0] for i in keep}
        blocks = []
        for (src, dst), parts in self.blocks.items():
            if src in names and dst in names:
                blocks.append(
                    (
                        names[src],
                        names[dst],
                        _sum_parts(parts, self.groups[src][1], self.groups[dst][1]),
                    )
                )
        return Network([(self.groups[i][0], self.groups[i][1]) for i in keep], blocks)


def _sum_parts(parts, n_src: int, n_dst: int):
    """One block from dense tensors and COO triples between the same two groups."""
    dense = [p for p in parts if isinstance(p, torch.Tensor)]
    coo = [p for p in parts if not isinstance(p, torch.Tensor)]
    if dense:
        total = torch.stack(dense).sum(0) if len(dense) > 1 else dense[0]
        for rows, cols, vals in coo:
            total = total.index_put((rows, cols), vals, accumulate=True)
        return total.numpy()
    rows, cols, vals = (torch.cat([c[i] for c in coo]).numpy() for i in range(3))
    return rows, cols, vals


def _weight(module) -> torch.Tensor:
    """The weight in effect: ``weight_orig * weight_mask`` for a module under
    torch.nn.utils.prune (its ``weight`` attribute is refreshed only by a forward)."""
    if hasattr(module, "weight_orig") and hasattr(module, "weight_mask"):
        weight = module.weight_orig * module.weight_mask
    else:
        weight = module.weight
    return weight.detach().cpu()


def _kernel_norms(weight: torch.Tensor, how: str) -> torch.Tensor:
    """``(out, in, *kernel)`` -> ``(out, in)`` norms of each kernel slice."""
    a = weight.abs()
    if how == "l1":
        return a.flatten(2).sum(-1)
    if how == "l2":
        return a.flatten(2).square().sum(-1).sqrt()
    if a.dim() == 3:  # a 1-D kernel: np.linalg.norm(vector, 1) is its sum
        return a.sum(-1)
    # np.linalg.norm(w, 1) of a (height, width) slice: sum over rows, largest column.
    return a.sum(-2).flatten(2).amax(-1)


def describe(node, gm) -> str:
    if node.op == "call_module":
        return f"module {node.target!r}, {type(gm.get_submodule(node.target)).__name__}"
    if node.op == "call_method":
        return f"method .{node.target}()"
    if node.op == "call_function":
        fn = node.target
        module = getattr(fn, "__module__", None) or "torch"
        module = {
            "_operator": "operator",
            "torch._C._nn": "torch.nn.functional",
            "torch._C._VariableFunctions": "torch",
        }.get(module, module)
        return f"function {module}.{getattr(fn, '__name__', repr(fn))}"
    return node.op
