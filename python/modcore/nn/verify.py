"""The traced graph checked against the model itself: autograd's dependence
between the units of consecutive parametrized layers.

The routing table (:mod:`modcore.nn.trace_walk`) declares, for every Linear or
convolution call, which units of which earlier group each of its input channels
carries. This module asks the model instead, sharing no code with that table:
the forward is run by a ``torch.fx.Interpreter`` on random inputs in which the
model's input and every Linear/convolution output are replaced by fresh random
leaves (so a layer's input depends only on the leaves of the segment before
it), and for every channel ``c`` of a layer's input one vector-Jacobian product
with a random cotangent on that channel alone (all positions) gives, summed
over positions as ``|grad|``, which source units the channel depends on. The
channels of one layer are probed together by giving each its own samples of the
batch.

The rule, for a layer's input channel ``c`` and a source unit ``u``:

- a dependence autograd observes but the table does not declare is a misread,
  always;
- a declared dependence that no sample shows is a misread where the segment has
  no op whose gradient can vanish on an open set of inputs (ReLU-like
  activations, clamps, shrinks, max pooling: "gates"). Behind a gate it is
  accepted: the random inputs (drawn with both signs at magnitudes 1 to 1e4, so
  one of ``z``, ``-z`` opens a ReLU whatever a BatchNorm shift) rarely miss a
  live path, but a unit can be dead for every input (a ReLU after a BatchNorm
  whose shift keeps it shut), and the graph keeps its weights by convention.
  Writes that silence a tensor (an in-place op through a view) are refused by
  the routing table itself.
"""

from __future__ import annotations

import copy
import math
import warnings
from dataclasses import dataclass

import torch
from torch import fx, nn

__all__ = ["AUTO_LIMIT", "LayerRead", "VerificationSkipped", "verify_routing"]

# Elements computed in all forwards together: above this, verify=None skips the check
# (with a warning) because it would cost more than clustering the graph.
AUTO_LIMIT = 4 * 10**8
# Elements of one forward (bounds the memory of the probe).
_CHUNK_ELEMENTS = 2 * 10**7
# Random draws, each used with both signs, at spread magnitudes: a shift (a folded
# BatchNorm's, a bias added between layers) cannot hold a ReLU shut for all of them,
# and a saturating activation still passes a gradient at the smallest.
_SCALES = (1.0, 1.0, 1e2, 1e4)
_PAIRS = len(_SCALES)

_GATE_MODULES = (
    nn.ReLU,
    nn.ReLU6,
    nn.Hardtanh,
    nn.Hardshrink,
    nn.Softshrink,
    nn.Threshold,
    nn.Hardsigmoid,
    nn.Hardswish,
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.AdaptiveMaxPool3d,
    nn.LPPool1d,
    nn.LPPool2d,
)
_GATE_NAMES = frozenset(
    (
        "relu",
        "relu_",
        "relu6",
        "hardtanh",
        "hardtanh_",
        "hardshrink",
        "softshrink",
        "threshold",
        "threshold_",
        "hardsigmoid",
        "hardswish",
        "clamp",
        "clamp_",
        "clip",
        "clip_",
        "clamp_min",
        "clamp_min_",
        "clamp_max",
        "clamp_max_",
        "max_pool1d",
        "max_pool2d",
        "max_pool3d",
        "adaptive_max_pool1d",
        "adaptive_max_pool2d",
        "adaptive_max_pool3d",
        "lp_pool1d",
        "lp_pool2d",
        "amax",
        "amin",
        "max",
        "min",
    )
)


class VerificationSkipped(UserWarning):
    """The check against the model was skipped because it would cost more than the
    clustering (``verify=None`` on a large model); ``verify=True`` forces it."""


@dataclass(frozen=True)
class LayerRead:
    """What the routing table declares for one layer call: ``declared[g]`` is a
    bool ``(n_units of group g, n_channels of the layer's input)`` array."""

    node: fx.Node
    declared: dict


def verify_routing(
    gm: fx.GraphModule,
    example: torch.Tensor,
    sources: dict,
    layers: list,
    names: list,
    *,
    force: bool,
    describe,
) -> None:
    """Raise ValueError where autograd's dependence differs from ``layers``' declarations.

    Parameters
    ----------
    gm : torch.fx.GraphModule
        Traced, shape-propagated, in eval mode.
    example : torch.Tensor
        The batch the shapes were propagated with (its shape and dtype are reused).
    sources : dict
        ``{node: group index}``: the input placeholder and every layer call.
    layers : list of LayerRead
    names : list of str
        Group names, by index, for the messages.
    force : bool
        Run however large the model is (``verify=True``); otherwise skip with a
        :class:`VerificationSkipped` warning above :data:`AUTO_LIMIT`.
    describe : callable
        ``describe(node, gm)``, a node's op in words (for the messages).
    """
    if not layers:
        return
    batch = example.shape[0]
    per_sample = sum(
        math.prod(n.meta["tensor_meta"].shape) // batch
        for n in gm.graph.nodes
        if hasattr(n.meta.get("tensor_meta"), "shape") and len(n.meta["tensor_meta"].shape) > 0
    )
    per_sample = max(per_sample, 1)
    widths = [_shape(layer.node.args[0])[1] for layer in layers]
    n_channels = max(widths)
    draws = 2 * _PAIRS
    chunk = max(1, min(n_channels, _CHUNK_ELEMENTS // (draws * per_sample)))
    total = draws * per_sample * chunk * math.ceil(n_channels / chunk)
    if not force and total > AUTO_LIMIT:
        warnings.warn(
            f"the traced graph was not checked against the model's autograd dependence: the "
            f"check would compute about {total:.1e} tensor elements; pass verify=True to run it "
            "anyway, verify=False to silence this",
            VerificationSkipped,
            stacklevel=4,
        )
        return
    model = gm
    dtype = example.dtype if example.dtype in (torch.float32, torch.float64) else torch.float32
    if any(p.dtype != dtype for p in gm.parameters()) or any(
        b.is_floating_point() and b.dtype != dtype for b in gm.buffers()
    ):
        model = copy.deepcopy(gm).to(dtype)
    generator = torch.Generator().manual_seed(0)
    magnitude = torch.tensor(_SCALES, dtype=dtype)
    bank = {
        node: (
            torch.randn((_PAIRS, *_shape(node)[1:]), generator=generator, dtype=dtype)
            * magnitude.reshape(-1, *[1] * (len(_shape(node)) - 1))
        ).to(example.device)
        for node in sources
    }
    observed = {
        id(layer.node): {
            g: torch.zeros(_shape(node)[1], w, dtype=torch.bool) for node, g in sources.items()
        }
        for layer, w in zip(layers, widths)
    }
    # A slot is one sample of the probe: draw z, its sign, the channel it asks about.
    slots = [(z, sign, c) for c in range(n_channels) for z in range(_PAIRS) for sign in (1.0, -1.0)]
    size = draws * chunk
    try:
        forwards = [slots[i : i + size] for i in range(0, len(slots), size)]
        _observe(model, forwards[0], bank, sources, layers, observed, generator)
    except Exception:
        # A forward that hard-codes its batch size: probe with that batch.
        forwards = [slots[i : i + batch] for i in range(0, len(slots), batch)]
        forwards[-1] = forwards[-1] + forwards[-1][:1] * (batch - len(forwards[-1]))
        if not force and len(forwards) * batch * per_sample > AUTO_LIMIT:
            warnings.warn(
                f"the traced graph was not checked against the model's autograd dependence: "
                f"the forward runs only on batches of {batch}, so the check would take "
                f"{len(forwards)} forward passes; pass verify=True to run it anyway, "
                "verify=False to silence this",
                VerificationSkipped,
                stacklevel=4,
            )
            return
        try:
            _observe(model, forwards[0], bank, sources, layers, observed, generator)
        except Exception as exc:
            raise ValueError(
                f"checking the traced graph against the model failed: the forward pass on "
                f"random inputs raised {type(exc).__name__}: {exc}; pass verify=False to skip "
                "the check"
            ) from exc
    for group in forwards[1:]:
        _observe(model, group, bank, sources, layers, observed, generator)
    for layer in layers:
        _compare(layer, observed[id(layer.node)], names, sources, gm, describe)


def _observe(model, slots, bank, sources, layers, observed, generator) -> None:
    """One forward over ``slots``; ORs the dependences it shows into ``observed``."""
    sign = torch.tensor([s for _, s, _ in slots], dtype=next(iter(bank.values())).dtype)
    draw = torch.tensor([z for z, _, _ in slots])
    channel = torch.tensor([c for _, _, c in slots])
    leaves = {}
    for node, z in bank.items():
        values = z[draw] * sign.to(z.device).reshape(-1, *[1] * (z.dim() - 1))
        leaves[node] = values.requires_grad_(True)
    # No arguments: the input is a leaf, any other placeholder takes its default.
    inputs = _Probe(model, leaves, [layer.node for layer in layers]).run()
    nodes = list(leaves)
    for layer in layers:
        x = inputs[layer.node]
        if not isinstance(x, torch.Tensor) or not x.requires_grad:
            continue  # depends on no source at all
        width = x.shape[1]
        asks = channel < width
        if not bool(asks.any()):
            continue
        cot = torch.zeros_like(x)
        rows = asks.nonzero().flatten()
        noise = torch.randn((len(rows), *x.shape[2:]), generator=generator, dtype=x.dtype)
        cot[rows, channel[rows]] = noise.to(x.device)
        grads = torch.autograd.grad(
            x, [leaves[n] for n in nodes], cot, retain_graph=True, allow_unused=True
        )
        for node, grad in zip(nodes, grads):
            if grad is None:
                continue
            mass = grad.detach().abs().reshape(grad.shape[0], grad.shape[1], -1).sum(2) > 0
            hits = torch.zeros(width, mass.shape[1])
            hits.index_add_(0, channel[rows], mass[rows].float().cpu())
            observed[id(layer.node)][sources[node]] |= (hits > 0).t()


class _Probe(fx.Interpreter):
    """Runs the forward with every source replaced by its leaf; keeps each layer's input.
    Nodes are matched by name: the model may be a copy in another dtype."""

    def __init__(self, gm, leaves: dict, layer_nodes: list):
        super().__init__(gm)
        self.leaves = {node.name: leaf for node, leaf in leaves.items()}
        self.layer_nodes = {node.name: node for node in layer_nodes}
        self.inputs: dict = {}

    def run(self, *args):  # type: ignore[override]
        with torch.enable_grad():
            super().run(*args)
        return self.inputs

    def run_node(self, n):
        if n.name in self.layer_nodes:
            arg = self.env[n.args[0]] if isinstance(n.args[0], fx.Node) else None
            # A copy: a later in-place op on the tensor must not change what the layer read.
            clone = arg.clone() if isinstance(arg, torch.Tensor) else arg
            self.inputs[self.layer_nodes[n.name]] = clone
        if n.name in self.leaves:
            return self.leaves[n.name] * 1  # not the leaf itself: in-place ops may follow
        return super().run_node(n)


def _shape(node):
    meta = node.meta.get("tensor_meta")
    return tuple(meta.shape)


def _segment(node, sources, gm, describe) -> list:
    """The ops between the layer call ``node`` and the sources it reads."""
    seen, stack, ops = set(), [a for a in node.all_input_nodes], []
    while stack:
        n = stack.pop()
        if n in seen or n in sources or n.op in ("get_attr", "placeholder"):
            continue
        seen.add(n)
        ops.append(n)
        stack.extend(n.all_input_nodes)
    order = {n: i for i, n in enumerate(gm.graph.nodes)}
    return sorted(ops, key=order.__getitem__)


def _is_gate(node, gm) -> bool:
    if node.op == "call_module":
        module = gm.get_submodule(node.target)
        return isinstance(module, _GATE_MODULES)
    name = node.target if node.op == "call_method" else getattr(node.target, "__name__", "")
    return name in _GATE_NAMES


def _compare(layer: LayerRead, observed: dict, names, sources, gm, describe) -> None:
    ops = None

    def segment_text():
        nonlocal ops
        if ops is None:
            ops = _segment(layer.node, sources, gm, describe)
        listed = ", ".join(f"{n.name!r} ({describe(n, gm)})" for n in ops[:12])
        more = f" and {len(ops) - 12} more" if len(ops) > 12 else ""
        return listed + more if listed else "no op"

    for g, seen in observed.items():
        declared = layer.declared.get(g)
        if declared is None:
            declared = torch.zeros_like(seen)
        declared = torch.as_tensor(declared, dtype=torch.bool)
        extra = seen & ~declared
        missing = declared & ~seen
        where = (
            f"the input of {layer.node.target!r} (node {layer.node.name!r}) from group {names[g]!r}"
        )
        if extra.any():
            u, c = (int(i) for i in extra.nonzero()[0])
            raise ValueError(
                f"the traced graph does not match the model: autograd shows that channel {c} of "
                f"{where} depends on unit {u}, which modcore's reading of the ops between them "
                f"does not route there ({int(extra.sum())} such pairs); ops: {segment_text()}. "
                "modcore refuses rather than guess: see the docs' list of ops read"
            )
        if not missing.any():
            continue
        if any(_is_gate(n, gm) for n in _segment(layer.node, sources, gm, describe)):
            continue  # behind a gate: a dead zone, possibly for every input
        u, c = (int(i) for i in missing.nonzero()[0])
        raise ValueError(
            f"the traced graph does not match the model: modcore routes unit {u} to channel {c} "
            f"of {where}, but autograd shows no dependence on random inputs of both signs "
            f"({int(missing.sum())} such pairs; the output no longer depends on them, e.g. "
            f"an in-place write or a cancellation); ops: {segment_text()}"
        )
