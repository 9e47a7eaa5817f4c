# Long (530 lines) for one job, the autograd oracle: probe, segments and comparison.
"""The traced graph checked against the model itself: autograd's dependence
between the units of consecutive parametrized layers.

The routing table (:mod:`modcore.network.torch.trace_walk`) declares, for every Linear or
convolution call, which units of which earlier group each of its input channels
carries. This module asks the model instead, sharing no code with that table:
the forward is run by a ``torch.fx.Interpreter`` on random inputs in which the
model's input and every Linear/convolution output are replaced by fresh random
leaves (so a layer's input depends only on the leaves of the segment before
it; each layer's segment is run alone), and for every channel ``c`` of a
layer's input one vector-Jacobian product with a random cotangent on that
channel alone (all positions) gives, summed over positions as ``|grad|``, which
source units the channel depends on. Where the sources hold fewer units than
the layer has input channels (a Linear after a flatten), one Jacobian-vector
product per source unit gives the same relation at less cost. The probes of one
layer run together, each in its own samples of the batch.

The rule, for a layer's input channel ``c`` and a source unit ``u``:

- a dependence autograd observes but the table does not declare is a misread,
  always;
- a declared dependence that no sample shows is a misread where the segment has
  no op whose gradient can vanish on an open set of inputs (ReLU-like
  activations, clamps, shrinks, max pooling: "gates"). Behind a gate it is
  accepted: the random inputs (drawn with both signs at magnitudes 1, 1e2, 1e4, so
  one of ``z``, ``-z`` opens a ReLU whatever a BatchNorm shift) rarely miss a
  live path, but a unit can be dead for every input (a ReLU after a BatchNorm
  whose shift keeps it shut), and the graph keeps its weights by convention.
  Writes that silence a tensor (an in-place op through a view) are refused by
  the routing table itself.
"""

from __future__ import annotations

import copy
import functools
import math
import operator
import warnings
from dataclasses import dataclass

import torch
from torch import fx, nn

from ...common.warn import warn_user

__all__ = ["AUTO_LIMIT", "LayerRead", "VerificationSkipped", "verify_routing"]

# Elements computed in all forwards together: above this, verify=None skips the check
# (with a warning) because it would cost more than clustering the graph.
AUTO_LIMIT = 10**8
# Elements of one forward (bounds the memory of the probe).
_CHUNK_ELEMENTS = 2 * 10**7
# Random draws, each used with both signs, at spread magnitudes: a shift (a folded
# BatchNorm's, a bias added between layers) cannot hold a ReLU shut for all of them,
# and a saturating activation still passes a gradient at the smallest.
_SCALES = (1.0, 1e2, 1e4)
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
    draws = 2 * _PAIRS
    segments = [_ancestors(layer.node, sources) for layer in layers]
    sizes = [max(1, sum(_numel(n) // batch for n in seg)) for seg in segments]
    widths = [_shape(layer.node.args[0])[1] for layer in layers]
    # Reverse mode asks one channel of the layer's input per sample, forward mode one
    # source unit: whichever needs fewer samples.
    units = [sum(_shape(n)[1] for n in seg if n in sources) for seg in segments]
    total = sum(draws * size * min(w, u) for size, w, u in zip(sizes, widths, units))
    if not force and total > AUTO_LIMIT:
        warn_user(
            f"the traced graph was not checked against the model's autograd dependence: the "
            f"check would compute about {total:.1e} tensor elements; pass verify=True to run it "
            "anyway, verify=False to silence this",
            VerificationSkipped,
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
    for layer, seg, size, width, n_units in zip(layers, segments, sizes, widths, units):
        srcs = [n for n in gm.graph.nodes if n in seg and n in sources]
        observed = {sources[n]: torch.zeros(_shape(n)[1], width, dtype=torch.bool) for n in srcs}
        probe = functools.partial(
            _probe_layer, model, layer, seg, sources, bank, observed, generator
        )
        try:
            probe(n_units < width, size, width, n_units, batch, force)
        except _InPlaceGradient:
            # An in-place op overwrote a tensor reverse mode saved for its gradient; forward
            # mode saves none.
            probe(True, size, width, n_units, batch, force)
        except _Skipped:
            return
        _compare(layer, observed, names, sources, gm, describe)


class _InPlaceGradient(Exception):
    pass


class _Skipped(Exception):
    pass


def _probe_layer(
    model,
    layer,
    seg,
    sources,
    bank,
    observed,
    generator,
    forward,
    size,
    width,
    n_units,
    batch,
    force,
) -> None:
    """All probes of one layer, in chunks of the batch (or of the model's fixed batch)."""
    draws = 2 * _PAIRS
    dtype = next(iter(bank.values())).dtype
    # A slot is one sample of the probe: what it asks about (a channel of the layer's
    # input, or in forward mode a source unit), a draw z, its sign; each target's draws
    # are neighbours.
    targets = n_units if forward else width
    channel = torch.arange(targets).repeat_interleave(draws)
    draw = torch.arange(_PAIRS).repeat_interleave(2).repeat(targets)
    sign = torch.tensor([1.0, -1.0], dtype=dtype).repeat(_PAIRS * targets)
    slots = (draw, sign, channel)
    chunk = draws * max(1, min(targets, _CHUNK_ELEMENTS // (draws * size)))
    probe = _Probe(model, layer.node, seg, sources, bank, observed, generator, draws)
    probe.forward = forward
    try:
        probe.observe(_slice(slots, 0, chunk, chunk))
    except Exception as exc:
        if not forward and "inplace" in str(exc):
            raise _InPlaceGradient from exc
        # A forward that hard-codes its batch size: probe with that batch.
        chunk = batch
        if not force and draws * size * targets / batch * 2 > AUTO_LIMIT / 10:
            warn_user(
                "the traced graph was not checked against the model's autograd "
                f"dependence: the forward runs only on batches of {batch}; pass "
                "verify=True to check it anyway, verify=False to silence this",
                VerificationSkipped,
            )
            raise _Skipped from exc
        try:
            probe.observe(_slice(slots, 0, chunk, chunk))
        except Exception as again:
            raise ValueError(
                f"checking the traced graph against the model failed: the forward pass "
                f"on random inputs raised {type(again).__name__}: {again}; pass verify=False "
                "to skip the check"
            ) from again
    for i in range(chunk, len(channel), chunk):
        probe.observe(_slice(slots, i, i + chunk, chunk))


def _slice(slots: tuple, start: int, stop: int, size: int) -> tuple:
    """Slots ``start:stop``, the first repeated up to ``size`` (a fixed batch size)."""
    parts = tuple(t[start:stop] for t in slots)
    missing = size - len(parts[0])
    if missing > 0:
        parts = tuple(torch.cat([t, t[:1].expand(missing)]) for t in parts)
    return parts


def _ancestors(node, sources: dict) -> set:
    """The nodes ``node``'s input may depend on: its ancestors back to the sources
    (included), and every node before ``node`` that reads one of them (an in-place op,
    or a view written later, changes a tensor without being its ancestor in fx's graph)."""
    order = {n: i for i, n in enumerate(node.graph.nodes)}
    limit = order[node]
    seen: set = set()
    stack = list(node.all_input_nodes)
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        if n not in sources:
            stack.extend(n.all_input_nodes)
        stack.extend(u for u in n.users if order[u] < limit)
    return seen


class _Probe(fx.Interpreter):
    """Runs one layer's segment, its sources replaced by leaves, and ORs the dependence of
    each probed channel of the layer's input into ``observed``. Nodes are matched by
    name: the model may be a copy in another dtype."""

    def __init__(self, gm, layer, segment, sources, bank, observed, generator, draws):
        super().__init__(gm)
        self.layer = layer
        names = {n.name for n in segment}
        self.nodes = [n for n in gm.graph.nodes if n.name in names]
        self.source_names = {n.name: n for n in segment if n in sources}
        self.groups = {n.name: sources[n] for n in segment if n in sources}
        self.bank = {n.name: z for n, z in bank.items()}
        self.observed = observed
        self.generator = generator
        self.draws = draws
        self.input = next(n for n in self.nodes if n.name == layer.args[0].name)

    forward = False

    def observe(self, slots: tuple) -> None:
        draw, sign, target = slots
        values = {}
        for name in self.source_names:
            z = self.bank[name]
            values[name] = z[draw] * sign.to(z.device).reshape(-1, *[1] * (z.dim() - 1))
        if self.forward:
            self._observe_forward(values, target)
        else:
            self._observe_reverse(values, target)

    def _run_segment(self, leaves: dict):
        self.env = {}
        self.args_iter = iter(())  # placeholders other than the input take their defaults
        for n in self.nodes:
            if n.name in leaves:
                self.env[n] = leaves[n.name] * 1  # not the leaf: in-place ops may follow
            else:
                self.env[n] = self.run_node(n)
        return self.env[self.input]

    def _observe_reverse(self, values: dict, channel) -> None:
        """One random cotangent on channel ``channel[s]`` of the layer's input per sample."""
        leaves = {name: v.requires_grad_(True) for name, v in values.items()}
        with torch.enable_grad():
            x = self._run_segment(leaves)
        if not isinstance(x, torch.Tensor) or not x.requires_grad:
            return  # depends on no source at all
        cot = torch.zeros_like(x)
        rows = torch.arange(len(channel))
        noise = torch.randn((len(channel), *x.shape[2:]), generator=self.generator, dtype=x.dtype)
        cot[rows, channel] = noise.to(x.device)
        names = list(leaves)
        grads = torch.autograd.grad(x, [leaves[n] for n in names], cot, allow_unused=True)
        for name, grad in zip(names, grads):
            if grad is None:
                continue
            mass = (grad.detach().abs().reshape(grad.shape[0], grad.shape[1], -1).sum(2) > 0).cpu()
            seen = self.observed[self.groups[name]]
            first = channel[:: self.draws]
            if len(channel) % self.draws == 0 and torch.equal(
                channel, first.repeat_interleave(self.draws)
            ):  # each channel's draws side by side
                seen[:, first] |= mass.reshape(-1, self.draws, mass.shape[1]).any(1).t()
            else:
                hits = torch.zeros(x.shape[1], mass.shape[1])
                hits.index_add_(0, channel, mass.float())
                seen |= (hits > 0).t()

    def _observe_forward(self, values: dict, unit) -> None:
        """One random tangent on source unit ``unit[s]`` (numbered across the sources in
        graph order) per sample; its image on the layer's input is what depends on it."""
        import torch.autograd.forward_ad as fwad

        offsets, start = {}, 0
        for name in self.source_names:
            offsets[name] = start
            start += values[name].shape[1]
        # torch's forward-mode rules script some helpers on first use (a DeprecationWarning
        # about torch.jit.script that is torch's, not the user's, business).
        with fwad.dual_level(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=DeprecationWarning, module="torch")
            leaves = {}
            for name, v in values.items():
                tangent = torch.zeros_like(v)
                local = unit - offsets[name]
                rows = ((local >= 0) & (local < v.shape[1])).nonzero().flatten()
                noise = torch.randn(
                    (len(rows), *v.shape[2:]), generator=self.generator, dtype=v.dtype
                )
                tangent[rows, local[rows]] = noise.to(v.device)
                leaves[name] = fwad.make_dual(v, tangent)
            x = self._run_segment(leaves)
            image = fwad.unpack_dual(x).tangent if isinstance(x, torch.Tensor) else None
        if image is None:
            return  # depends on no source at all
        tangent = image
        mass = (tangent.abs().reshape(tangent.shape[0], tangent.shape[1], -1).sum(2) > 0).cpu()
        hits = torch.zeros(start, mass.shape[1])
        hits.index_add_(0, unit, mass.float())
        for name, offset in offsets.items():
            n = values[name].shape[1]
            self.observed[self.groups[name]] |= hits[offset : offset + n] > 0


def _numel(node) -> int:
    meta = node.meta.get("tensor_meta")
    return math.prod(meta.shape) if hasattr(meta, "shape") else 0


def _shape(node):
    meta = node.meta.get("tensor_meta")
    return tuple(meta.shape)


def _segment(node, sources, gm) -> list:
    """The ops between the layer call ``node`` and the sources it reads, in graph order."""
    ops = [
        n
        for n in _ancestors(node, sources)
        if n not in sources and n.op not in ("get_attr", "placeholder", "output")
    ]
    order = {n: i for i, n in enumerate(gm.graph.nodes)}
    return sorted(ops, key=order.__getitem__)


_SHIFTS = frozenset(
    (
        operator.add,
        operator.sub,
        operator.iadd,
        operator.isub,
        torch.add,
        torch.sub,
        "add",
        "sub",
        "add_",
        "sub_",
    )
)


def _may_silence(ops: list, sources: dict, gm) -> bool:
    """Whether the segment can leave a whole unit or channel without gradient for every
    draw although the routing is right: a shift (a BatchNorm's, a constant added) can
    keep a ReLU shut for inputs of both signs, and a max (pooling, amax) may never pick a
    unit that loses to its window. An elementwise gate alone always passes one sign."""
    if any(_is_max(n, gm) for n in ops):
        return True
    computed = set(sources)
    for n in ops:
        if any(a in computed for a in n.all_input_nodes):
            computed.add(n)
    for n in ops:
        if (
            n.op == "call_module"
            and "Norm" in type(n.graph.owning_module.get_submodule(n.target)).__name__
        ):
            return True
        if n.target in _SHIFTS:
            operands = [*n.args[:2], *n.kwargs.values()]
            if any(
                (isinstance(a, fx.Node) and a not in computed)
                or (isinstance(a, (int, float)) and a != 0)
                for a in operands
            ):
                return True
    return False


def _is_max(node, gm) -> bool:
    if node.op == "call_module":
        return "Max" in type(gm.get_submodule(node.target)).__name__
    name = node.target if node.op == "call_method" else getattr(node.target, "__name__", "")
    return "max" in name or "min" in name


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
            ops = _segment(layer.node, sources, gm)
        listed = ", ".join(f"{n.name!r} ({describe(n, gm)})" for n in ops[:12])
        more = f" and {len(ops) - 12} more" if len(ops) > 12 else ""
        return listed + more if listed else "no op"

    for g in {**observed, **layer.declared}:
        # A group the routing declares but the layer's input is not computed from: all missing.
        known = observed[g] if g in observed else layer.declared[g]
        seen = observed.get(g, torch.zeros_like(known))
        declared = layer.declared.get(g, torch.zeros_like(known))
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
        ops = _segment(layer.node, sources, gm)
        silent = bool(
            (declared.any(1) & ~seen.any(1)).any() | (declared.any(0) & ~seen.any(0)).any()
        )
        if any(_is_gate(n, gm) for n in ops) and (not silent or _may_silence(ops, sources, gm)):
            continue  # behind a gate: a dead zone; for every draw only behind a shift or a max
        u, c = (int(i) for i in missing.nonzero()[0])
        raise ValueError(
            f"the traced graph does not match the model: modcore routes unit {u} to channel {c} "
            f"of {where}, but autograd shows no dependence on random inputs of both signs "
            f"({int(missing.sum())} such pairs; the output no longer depends on them, e.g. "
            f"an in-place write or a cancellation); ops: {segment_text()}"
        )
