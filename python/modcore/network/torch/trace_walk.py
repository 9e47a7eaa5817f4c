# Long (900 lines) as one class: GraphWalk's per-op methods share the walk's state.
"""The walk over a traced model: which ops modcore reads and how each one routes
the units (see :mod:`modcore.network.torch.trace` for the rules,
:mod:`modcore.network.torch.routing` for the values it passes along).

Every op is read from its own arguments, positional or keyword, never from the
shapes around it: an elementwise op keeps each channel, an op that only moves
entries is run on entry numbers (:func:`modcore.network.torch.routing.index_of`), a pooling
window over the feature axis is run on one-hot features, a scale is a number. An
op outside this table, or one whose arguments it cannot model exactly, is
refused with a ValueError naming the node and the op.
"""

from __future__ import annotations

import numbers
import operator
from typing import cast

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
from .routing import Flow, Gathered, Piece, index_of, window_pieces
from .verify import LayerRead

__all__ = [
    "CONVS",
    "LAYERS",
    "PER_CHANNEL_FUNCTIONS",
    "PER_CHANNEL_METHODS",
    "PER_CHANNEL_MODULES",
    "GraphWalk",
    "describe",
]

CONVS = (
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
)
LAYERS = (nn.Linear, *CONVS)
# fmt: off
# Elementwise modules: each entry stays in place.
_ELEMENTWISE_MODULES = (*ACTIVATION_MODULES, *DROPOUT_MODULES, nn.Identity)
# Normalizations over a dim: elementwise only when that dim is not the channel dim.
_SOFTMAX_MODULES = (nn.Softmax, nn.LogSoftmax, nn.Softmin)
_SOFTMAX_NAMES = frozenset(("softmax", "log_softmax", "softmin"))
# Pooling: (module classes, n pooled dims).
_POOL_MODULES = {
    1: (nn.MaxPool1d, nn.AvgPool1d, nn.AdaptiveAvgPool1d, nn.AdaptiveMaxPool1d, nn.LPPool1d),
    2: (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.LPPool2d),
    3: (nn.MaxPool3d, nn.AvgPool3d, nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool3d),
}
_POOL_NAMES = {
    name: int(name[-2])
    for name in (
        "max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
        "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
        "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
        "lp_pool1d", "lp_pool2d",
    )
}
_POOL_TARGETS = {
    f: n
    for name, n in _POOL_NAMES.items()
    for f in functions(F, (name,)) | functions(torch, (name,))
}
_UPSAMPLE_MODULES = (nn.Upsample, nn.UpsamplingNearest2d, nn.UpsamplingBilinear2d)
_UPSAMPLE_FUNCTIONS = functions(F, ("interpolate", "upsample"))
# Ops that only move entries: routed by running them on entry numbers.
_MOVE_MODULES = (
    nn.Flatten, nn.Unflatten, nn.ZeroPad1d, nn.ZeroPad2d, nn.ZeroPad3d, nn.ReflectionPad1d,
    nn.ReflectionPad2d, nn.ReflectionPad3d, nn.ReplicationPad1d, nn.ReplicationPad2d,
    nn.ReplicationPad3d, nn.CircularPad1d, nn.CircularPad2d, nn.CircularPad3d,
)
_CONSTANT_PADS = (nn.ConstantPad1d, nn.ConstantPad2d, nn.ConstantPad3d)
_MOVE_NAMES = (
    "view", "reshape", "flatten", "unflatten", "squeeze", "unsqueeze", "view_as", "reshape_as",
    "permute", "transpose", "swapaxes", "swapdims", "movedim", "moveaxis", "t", "flip",
    "fliplr", "flipud", "roll", "narrow", "select", "index_select", "expand", "expand_as",
    "repeat", "tile", "unfold",
)
_MOVE_METHODS = frozenset(_MOVE_NAMES)
_MOVE_FUNCTIONS = functions(torch, _MOVE_NAMES) | {operator.getitem}
# fmt: on
_ELEMENTWISE_FUNCTIONS = (
    (ACTIVATION_FUNCTIONS | DROPOUT_FUNCTIONS)
    - functions(torch, tuple(_SOFTMAX_NAMES))
    - functions(F, tuple(_SOFTMAX_NAMES))
)
_SOFTMAX_FUNCTIONS = functions(torch, tuple(_SOFTMAX_NAMES)) | functions(F, tuple(_SOFTMAX_NAMES))
_ELEMENTWISE_METHODS = (ACTIVATION_METHODS - _SOFTMAX_NAMES) | NO_OP_METHODS
_REDUCE_FUNCTIONS = functions(torch, ("mean", "sum", "amax", "amin"))
_REDUCE_METHODS = frozenset(("mean", "sum", "amax", "amin"))
# The operands' names, for ops read from their operands (positional or keyword).
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
_META_METHODS = frozenset(
    ("size", "dim", "ndimension", "numel", "nelement", "new_zeros", "new_ones", "new_empty")
)
_META_FUNCTIONS = functions(torch, ("zeros_like", "ones_like", "empty_like"))
_META_ATTRS = frozenset(("shape", "dtype", "device", "ndim", "is_cuda"))
# In-place ops that change the values (and so the routing) of the tensor they write.
_IN_PLACE = frozenset((operator.iadd, operator.isub, operator.imul, operator.itruediv))
# Ops that keep every channel where it is (for the lesion code's per-unit chains).
PER_CHANNEL_MODULES = (
    *_ELEMENTWISE_MODULES,
    *(kind for kinds in _POOL_MODULES.values() for kind in kinds),
    *_UPSAMPLE_MODULES,
)
PER_CHANNEL_FUNCTIONS = _ELEMENTWISE_FUNCTIONS | frozenset(_POOL_TARGETS) | _UPSAMPLE_FUNCTIONS
PER_CHANNEL_METHODS = _ELEMENTWISE_METHODS
_SUPPORTED = "the ops modcore reads, and why others are refused, are listed in docs/torch_ops.rst"


class GraphWalk:
    """Reads a traced, shape-propagated GraphModule node by node into groups and blocks.

    ``constants`` holds the value each node not computed from the input took when
    the shapes were propagated (sizes, index tensors, parameters), so an op's
    arguments are read as the model used them.
    """

    def __init__(self, gm: fx.GraphModule, kernel_norm: str, constants: dict):
        self.gm = gm
        self.kernel_norm = kernel_norm
        self.constants = constants
        self.groups: list[tuple[str, int, str]] = []  # (name, size, kind)
        self.blocks: dict[tuple[int, int], list] = {}  # dense tensors / COO triples
        # node -> Flow or Gathered, or None for values not computed from the input
        self.values: dict[fx.Node, Flow | Gathered | None] = {}
        self.calls: dict[str, int] = {}
        # For the check against the model: the node computing each group, what each layer reads.
        self.sources: dict[fx.Node, int] = {}
        self.reads: list[LayerRead] = []
        self.live_units: dict[int, torch.Tensor] = {}  # False where a folded scale is 0
        self.order = {n: i for i, n in enumerate(gm.graph.nodes)}
        self.alias = {n: n for n in gm.graph.nodes}

    # -- groups and blocks --

    def _new_group(self, name: str, size: int, kind: str, node) -> int:
        n = self.calls[name] = self.calls.get(name, 0) + 1
        label = name if n == 1 else f"{name}#{n}"
        taken = {g[0] for g in self.groups}
        k = n
        while label in taken:
            k += 1
            label = f"{name}#{k}"
        self.groups.append((label, size, kind))
        self.sources[node] = len(self.groups) - 1
        return len(self.groups) - 1

    def _own_flow(self, group: int, shape) -> Flow:
        n = shape[1]
        return Flow(
            (Piece(group, torch.arange(n), torch.ones(n, dtype=torch.float64)),), tuple(shape)
        )

    def _read(self, node, flow: Flow) -> None:
        """Record what the layer ``node`` reads, for the check against the model."""
        declared: dict = {}
        for p in flow.pieces:
            n_units = self.groups[p.group][1]
            block = declared.setdefault(
                p.group, torch.zeros(n_units, len(p.units), dtype=torch.bool)
            )
            live = (p.units >= 0) & (p.scale != 0)
            cols = live.nonzero().flatten()
            rows = p.units[cols]
            keep = self.live_units.get(p.group, torch.ones(n_units, dtype=torch.bool))[rows]
            block[rows[keep], cols[keep]] = True
        self.reads.append(LayerRead(node, declared))

    def _connect_dense(self, flow: Flow, kernel: torch.Tensor, dst: int):
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

    def _connect_sparse(self, flow: Flow, feature, unit, value, dst: int):
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
                    self._new_group("input", shape[1], "input", node), shape
                )
                continue
            if not any(self._is_flow(a) for a in node.all_input_nodes):
                self.values[node] = None  # a constant, a shape, a parameter
                continue
            if "out" in node.kwargs:
                raise self._error(node, "writes into an out= tensor")
            value = self._visit(node)
            self.values[node] = value
            self._in_place(node, value)

    def _is_flow(self, arg) -> bool:
        return isinstance(arg, fx.Node) and isinstance(self.values.get(arg), (Flow, Gathered))

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
            if isinstance(module, _SOFTMAX_MODULES):
                return self._softmax(node, module.dim)
            if isinstance(module, nn.Softmax2d):  # over the channels of (N, C, H, W)
                return self._softmax(node, -3)
            if isinstance(module, _ELEMENTWISE_MODULES):
                return self._elementwise(node)
            if isinstance(module, _CONSTANT_PADS):
                return self._move(node, lambda x: F.pad(x, module.padding, value=0.0))
            if isinstance(module, _MOVE_MODULES):
                return self._move(node, module)
            for n_dims, kinds in _POOL_MODULES.items():
                if isinstance(module, kinds):
                    return self._pool(node, n_dims, module)
            if isinstance(module, _UPSAMPLE_MODULES):
                return self._spatial(node, "resamples", module)
            raise self._error(node, "is not a layer modcore can read")
        if node.op == "call_method":
            if target in _META_METHODS:
                return None
            if target in _SOFTMAX_NAMES:
                return self._softmax(node, self._bind(node, ("input", "dim")).get("dim"))
            if target in _ELEMENTWISE_METHODS:
                return self._elementwise(node)
            if target in _MOVE_METHODS:
                return self._move(node, None)
            if target in _REDUCE_METHODS:
                return self._reduce(node)
        if node.op == "call_function":
            if target is getattr and node.args[1] in _META_ATTRS:
                return None
            if target in _META_FUNCTIONS:
                return None
            if target in _SOFTMAX_FUNCTIONS:
                return self._softmax(node, self._bind(node, ("input", "dim")).get("dim"))
            if target in _ELEMENTWISE_FUNCTIONS:
                return self._elementwise(node)
            if target is F.pad or getattr(target, "__name__", None) == "pad":
                return self._pad(node)
            if target in _MOVE_FUNCTIONS:
                return self._move(node, None)
            if target in _POOL_TARGETS:
                return self._pool(node, _POOL_TARGETS[target], None)
            if target in _UPSAMPLE_FUNCTIONS:
                return self._spatial(node, "resamples")
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

    # -- layers --

    def _linear(self, node, module: nn.Linear) -> Flow:
        flow = self._flow_arg(node)
        if len(flow.shape) != 2:
            raise self._error(
                node,
                f"applies a Linear to a {len(flow.shape)}-D tensor of shape "
                f"{flow.shape}; modcore reads a Linear on (batch, features): "
                "flatten conv channels first (nn.Flatten, x.flatten(1))",
            )
        self._read(node, flow)
        weight = _weight(module)  # (out, in)
        group = self._new_group(node.target, module.out_features, "dense", node)
        scale = self._folded_bn_scale(node)
        if scale is not None:
            weight = weight.double() * scale[:, None]
            self.live_units[group] = scale != 0
        self._connect_dense(flow, weight.t(), group)
        return self._own_flow(group, self._shape(node))

    def _conv(self, node, module) -> Flow:
        flow = self._flow_arg(node)
        n_spatial = len(module.kernel_size)
        if len(flow.shape) != 2 + n_spatial:
            raise self._error(
                node,
                f"expects a (batch, channels, {n_spatial} spatial dims) "
                f"input, got shape {flow.shape}",
            )
        self._read(node, flow)
        weight = _weight(module).double()
        if module.transposed:  # (in, out / groups, *k) -> (out, in / groups, *k)
            g = module.groups
            w_in, w_out = weight.shape[0] // g, weight.shape[1]
            weight = (
                weight.reshape(g, w_in, w_out, *weight.shape[2:])
                .transpose(1, 2)
                .reshape(g * w_out, w_in, *weight.shape[2:])
            )
        norms = _kernel_norms(weight, self.kernel_norm)  # (out, in / groups)
        n_out, in_per_group = norms.shape
        group = self._new_group(node.target, n_out, "conv", node)
        scale = self._folded_bn_scale(node)
        if scale is not None:
            norms = norms * scale.abs()[:, None]
            self.live_units[group] = scale != 0
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
        if (
            not isinstance(bn, BATCHNORMS)
            or users[0].args[0] is not node
            or len(users[0].args) != 1
        ):
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

    def _batchnorm(self, node, bn) -> Flow:
        flow = self._flow_arg(node)
        producer = node.args[0]
        if (
            producer.op == "call_module"
            and isinstance(self.gm.get_submodule(producer.target), LAYERS)
            and self._folded_bn_scale(producer) is not None
        ):
            return flow.reshaped(self._shape(node), flow.live)  # folded into the producer
        scale = self._bn_scale(node, bn)
        if scale.numel() != flow.shape[1]:
            raise self._error(
                node, f"has {scale.numel()} features but its input has {flow.shape[1]}"
            )
        return flow.scaled(scale, self._shape(node))

    # -- weightless ops --

    def _elementwise(self, node):
        """An op applied to each entry alone: the routing does not change."""
        value = self._value_arg(node)
        shape = self._shape(node)
        if shape != value.shape:
            raise self._error(node, f"changes the shape {value.shape} -> {shape}")
        return value

    def _softmax(self, node, dim):
        value = self._value_arg(node)
        ndim = len(value.shape)
        if not isinstance(dim, int) or isinstance(dim, bool) or dim % ndim < 2:
            raise self._error(
                node,
                f"normalizes over dim {dim} (None: torch's implicit choice, the channel dim "
                "for a 2-D or 4-D tensor); over dim 1 every unit would depend on every other, "
                "so modcore reads it only over spatial dims (2 and later)",
            )
        return self._elementwise(node)

    def _move(self, node, op):
        """An op that only moves entries: run it, with its own arguments, on entry numbers."""
        value = self._value_arg(node)
        index = index_of(value)
        try:
            if op is not None:
                moved = op(index)
            else:
                args, kwargs = self._concrete(node, index)
                fn = getattr(index, node.target) if node.op == "call_method" else node.target
                moved = fn(*args[1:], **kwargs) if node.op == "call_method" else fn(*args, **kwargs)
        except Exception as exc:  # the op rejected entry numbers: a case not modelled
            raise self._error(node, f"could not be routed ({type(exc).__name__}: {exc})") from exc
        if not isinstance(moved, torch.Tensor) or tuple(moved.shape) != self._shape(node):
            raise self._error(node, "gives no tensor of the shape the model computed")
        base = value.base if isinstance(value, Gathered) else value
        ops = value.ops if isinstance(value, Gathered) else ()
        gathered = Gathered(base, moved, (*ops, f"{node.name!r} ({describe(node, self.gm)})"))
        if gathered.shape == base.shape and torch.equal(moved, index_of(base)):
            return base
        return gathered

    def _pad(self, node):
        args = self._bind(node, ("input", "pad", "mode", "value"))
        mode = args.get("mode", "constant")
        if not isinstance(mode, str):
            raise self._error(node, f"has a mode {mode!r} that is not a string")
        pad = self._constant_value(args.get("pad"))
        return self._move(
            node,
            lambda x: (
                F.pad(x, pad, mode=mode, value=0.0)
                if mode == "constant"
                else F.pad(x, pad, mode=mode)
            ),
        )

    def _pool(self, node, n_dims: int, module):
        value = self._value_arg(node)
        ndim = len(value.shape)
        if ndim == n_dims + 2:  # (batch, channels, *pooled): each channel pooled alone
            return self._spatial(node, "pools", module)
        if ndim != 2 or n_dims != 1:
            raise self._error(
                node,
                f"pools a {ndim}-D tensor {value.shape} with a {n_dims}-D window, so the "
                "window spans the channel dim together with other dims",
            )
        # (batch, features) read by a 1-D pool as (channels, length): a window over features.
        flow = self._channels(node, value).live_channels()
        weights = self._run(node, module, torch.eye(flow.shape[1], dtype=torch.float64))
        shape = self._shape(node)
        if not isinstance(weights, torch.Tensor) or weights.shape != (flow.shape[1], shape[1]):
            raise self._error(node, "gives no tensor of the shape the model computed")
        return window_pieces(flow, weights, shape)

    def _spatial(self, node, what: str, module=None):
        """Pooling or resampling over the dims after the channel dim only; an output entry
        is live where its window holds a live entry (the op run on the live mask)."""
        flow = self._channels(node, self._value_arg(node))
        shape = self._shape(node)
        if shape is None or len(shape) != len(flow.shape) or shape[:2] != flow.shape[:2]:
            raise self._error(node, f"{what} {flow.shape} into {shape}, not per channel")
        live = None
        if flow.live is not None:
            live = self._run(node, module, flow.live[None].to(torch.float64))[0] > 0
        return flow.reshaped(shape, live)

    def _run(self, node, module, tensor):
        """The node's op, with its own arguments, on ``tensor`` in place of its input."""
        try:
            if module is not None:
                out = module(tensor)
            else:
                args, kwargs = self._concrete(node, tensor)
                out = node.target(*args, **kwargs)
        except Exception as exc:
            raise self._error(node, f"could not be routed ({type(exc).__name__}: {exc})") from exc
        if not isinstance(out, torch.Tensor):
            raise self._error(node, "gives no single tensor")
        return out

    def _reduce(self, node) -> Flow:
        """mean / sum / amax / amin over spatial dims only (global pooling)."""
        flow = self._channels(node, self._value_arg(node))
        args = self._bind(node, ("input", "dim", "keepdim"))
        dims = args.get("dim")
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
        shape = self._shape(node)
        if shape is None or len(shape) < 2 or shape[:2] != flow.shape[:2]:
            raise self._error(node, f"reduces {flow.shape} to {shape}")
        live = None
        if flow.live is not None:
            keep = bool(args.get("keepdim", False))
            live = flow.live[None].amax(dim=tuple(d % ndim for d in dims), keepdim=keep)[0]
        return flow.reshaped(shape, live)

    def _add(self, node, sign: int) -> Flow:
        args = self._bind(node, ("input", "other", "alpha"))
        alpha = args.get("alpha", 1)
        factor = self._scalar(alpha)
        if factor is None:
            raise self._error(node, "has an alpha that is not a number")
        shape = self._shape(node)
        flows = []
        for key, s in (("input", 1.0), ("other", sign * factor)):
            arg = args.get(key)
            if self._is_flow(arg):
                flows.append(self._broadcast(node, self._value(arg), shape).scaled(s))
            elif isinstance(arg, fx.Node) and self._shape(arg) is not None:
                self._check_constant_operand(node, arg, shape)
        # A channel's pieces hold at every entry of it; one only partly live (padding inside
        # it) must not meet an operand that is live where it is not.
        flows = [f.live_channels() for f in flows]
        full = torch.ones(shape[1:], dtype=torch.bool)
        masks = [full if f.live is None else f.live for f in flows]
        partial = any(
            bool((m.reshape(shape[1], -1).any(1) & ~m.reshape(shape[1], -1).all(1)).any())
            for m in masks
        )
        if partial and not all(torch.equal(m, masks[0]) for m in masks):
            raise self._error(
                node,
                "adds tensors that hold constants (padding) at different entries of one "
                "channel, so a channel's unit would be claimed where only the other has it",
            )
        live = torch.stack(masks).any(0) if masks else None
        pieces = tuple(p for f in flows for p in f.pieces)
        return Flow(pieces, shape).reshaped(shape, live)

    def _check_constant_operand(self, node, arg, shape):
        """A constant tensor added to a flow must not add a batch dim or move the flow's dims."""
        other = self._shape(arg)
        if shape is None or len(other) > len(shape):
            raise self._error(node, f"broadcasts with a constant of shape {other}")

    def _broadcast(self, node, value, shape) -> Flow:
        if shape is None or len(shape) != len(value.shape) or shape[0] != value.shape[0]:
            raise self._error(
                node,
                f"broadcasts {value.shape} to {shape if shape is not None else 'not one tensor'}",
            )
        if tuple(value.shape) == tuple(shape):
            return self._channels(node, value)
        expanded = Gathered(
            value.base if isinstance(value, Gathered) else value,
            index_of(value).expand(shape),
            (*(value.ops if isinstance(value, Gathered) else ()), "broadcasting"),
        )
        return self._channels(node, expanded)

    def _scale(self, node, divide: bool, factor=None):
        args = self._bind(node, ("input", "other"))
        first, other = args.get("input"), args.get("other")
        if self._is_flow(first) and self._is_flow(other):
            raise self._error(
                node,
                "multiplies two tensors computed from the input (gating or "
                "attention); only scaling by a scalar keeps the graph linear",
            )
        if factor is None:
            if not self._is_flow(first):
                if divide:
                    raise self._error(node, "divides by a tensor computed from the input")
                first, other = other, first
            factor = self._scalar(other)
            if factor is None:
                raise self._error(node, "multiplies by a tensor that is not a scalar")
            if divide:
                if factor == 0:
                    raise self._error(node, "divides by zero")
                factor = 1.0 / factor
        value = self._value(first)
        shape = self._shape(node)
        if shape != value.shape:
            raise self._error(node, f"broadcasts {value.shape} to {shape}")
        return value.scaled(factor)

    def _cat(self, node) -> Flow:
        args = self._bind(node, ("tensors", "dim"))
        tensors, dim = args.get("tensors"), args.get("dim", 0)
        shape = self._shape(node)
        if shape is None or not isinstance(tensors, (list, tuple)) or not isinstance(dim, int):
            raise self._error(node, "concatenates something modcore cannot read")
        dim %= len(shape)
        if dim == 0:
            raise self._error(node, "concatenates along the batch dim")
        pieces: list[Piece] = []
        masks = []
        offset = 0
        for arg in tensors:
            arg_shape = self._shape(arg) if isinstance(arg, fx.Node) else None
            if arg_shape is None:
                raise self._error(node, "concatenates something that is not a tensor")
            if not self._is_flow(arg):
                masks.append(torch.zeros(arg_shape[1:], dtype=torch.bool))
            else:
                flow = self._channels(node, self._value(arg))
                live = flow.live
                masks.append(torch.ones(arg_shape[1:], dtype=torch.bool) if live is None else live)
                if dim != 1:  # along a spatial dim: channels stay where they are
                    pieces += flow.pieces
                    continue
                width = flow.shape[1]
                for p in flow.pieces:
                    units = torch.full((shape[1],), -1, dtype=torch.long)
                    scale = torch.zeros(shape[1], dtype=torch.float64)
                    units[offset : offset + width] = p.units
                    scale[offset : offset + width] = p.scale
                    pieces.append(Piece(p.group, units, scale))
            offset += arg_shape[1]
        return Flow(tuple(pieces), shape).reshaped(shape, torch.cat(masks, dim - 1))

    # -- in-place ops and aliases --

    def _root(self, node):
        while self.alias[node] is not node:
            node = self.alias[node]
        return node

    def _in_place(self, node, value) -> None:
        """An op that writes into its first argument changes it for every later reader;
        a view of it (or what it is a view of) would change too, so those are refused."""
        first = node.args[0] if node.args else None
        if not isinstance(first, fx.Node):
            return
        moves = (
            (node.op == "call_method" and node.target in _MOVE_METHODS | NO_OP_METHODS)
            or (node.op == "call_function" and node.target in _MOVE_FUNCTIONS)
            or (
                node.op == "call_module"
                and isinstance(self.gm.get_submodule(node.target), _MOVE_MODULES)
            )
        )
        writes = (
            node.target in _IN_PLACE
            or (node.op == "call_method" and node.target.endswith("_"))
            or node.kwargs.get("inplace") is True
            or (
                node.op == "call_module"
                and getattr(self.gm.get_submodule(node.target), "inplace", False)
            )
        )
        if moves or writes:  # the result may share memory with the first argument
            self.alias[self._root(node)] = self._root(first)
        if not writes:
            return
        before = self.values.get(first)
        elementwise = value is not None and (
            before is value
            or (
                isinstance(value, Flow)
                and isinstance(before, Flow)
                and value.pieces is before.pieces
            )
        )
        if elementwise:
            return  # an activation in place: the routing of every alias stays the same
        if first.op == "get_attr":
            raise self._error(
                node,
                f"writes in place into the constant {first.target!r} (a tensor attribute, or "
                "one torch.fx froze when tracing, e.g. torch.zeros(2, 4), which every call "
                "shares); create it from the input (x.new_zeros(...)) or write out of place",
            )
        root = self._root(first)
        later = [
            n
            for n in self.gm.graph.nodes
            if n is not first
            and n is not node
            and self._root(n) is root
            and any(self.order[u] > self.order[node] for u in n.users)
        ]
        if later:
            raise self._error(
                node,
                f"writes in place into {first.name!r}, which shares memory with "
                f"{later[0].name!r} read later; modcore does not track writes through "
                "aliases (views): write out of place (h = h * 2) instead",
            )
        self.values[first] = value

    # -- helpers --

    def _value_arg(self, node):
        """The one input computed from the input, which must be the first argument."""
        flows = [a for a in node.all_input_nodes if self._is_flow(a)]
        first = node.args[0] if node.args else next(iter(node.kwargs.values()), None)
        if len(flows) != 1 or first is not flows[0]:
            raise self._error(
                node, "combines tensors computed from the input in a way modcore cannot read"
            )
        return self._value(flows[0])

    def _value(self, node) -> Flow | Gathered:
        return cast("Flow | Gathered", self.values[node])

    def _flow_arg(self, node) -> Flow:
        """The one input, per channel, with no unit where it holds only constants."""
        return self._channels(node, self._value_arg(node)).live_channels()

    def _channels(self, node, value) -> Flow:
        if isinstance(value, Flow):
            return value
        try:
            return cast(Gathered, value).channels()
        except ValueError as exc:
            ops = ", ".join(cast(Gathered, value).ops)
            raise self._error(node, f"reads the result of {ops}, which {exc}") from None

    def _bind(self, node, names) -> dict:
        """The node's arguments by name (``names`` in positional order), kwargs included."""
        bound = dict(zip(names, node.args))
        for key, arg in node.kwargs.items():
            bound["input" if key == "self" else key] = arg
        return bound

    def _concrete(self, node, index):
        """The node's arguments as the model used them, the flow replaced by ``index``."""
        flow = next(a for a in node.all_input_nodes if self._is_flow(a))

        def value(a):
            if a is flow:
                return index
            if isinstance(a, fx.Node):
                if self._is_flow(a):
                    raise self._error(node, "takes a second tensor computed from the input")
                return self._constant_value(a)
            return a

        args = fx.node.map_aggregate(node.args, value)
        kwargs = fx.node.map_aggregate(node.kwargs, value)
        return args, kwargs

    def _constant_value(self, arg):
        """``arg`` as the model used it, tensors on the CPU (where entry numbers live)."""

        def value(a):
            a = self.constants.get(a) if isinstance(a, fx.Node) else a
            return a.detach().cpu() if isinstance(a, torch.Tensor) else a

        return fx.node.map_aggregate(arg, value)

    def _shape(self, node):
        meta = node.meta.get("tensor_meta")
        return tuple(meta.shape) if isinstance(meta, TensorMetadata) else None

    def _scalar(self, arg):
        if isinstance(arg, numbers.Real) and not isinstance(arg, bool):
            return float(arg)
        if isinstance(arg, fx.Node) and not self._is_flow(arg):
            return arg.meta.get("modcore_scalar")
        return None

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
