"""Property test of the torch reader (issue 26): random architectures from a grammar end in
exactly one of two outcomes, the graph an oracle written here computes, or a ValueError
naming an op. Never a third.

The oracle shares no code with modcore: it runs the same op list on its own, with every
Linear/Conv output replaced by a fresh variable, activations and dropout as the
identity (modcore's documented convention: a path through an activation has gain 1) and
each scale (a BatchNorm's, a constant factor) by its magnitude (the convention again:
paths add by absolute value, so one unit reaching one entry along paths of opposite signs
gives |a| + |b|, not |a + b|; a BatchNorm's shift is kept),
and reads the gain from each source unit to each input entry of every layer off the
dense Jacobian of that parameter-free segment, summed over the unit's positions (the
largest over random inputs where a pooling within channels, read as a max pool, makes it
depend on them: such pooling passes a channel at gain 1). A Linear's edge
is the sum over its input features of ``|weight| * gain``; a convolution's is the l1
norm of the kernel slice times the largest gain over the channel's positions; a
BatchNorm right after a layer scales that layer's incoming weights.

Profile "reader": 500 examples (MODCORE_READER_EXAMPLES to change it).
"""

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
hypothesis = pytest.importorskip("hypothesis")
import torch.nn.functional as F
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from torch import nn

from modcore.network.network import Network
from oracles import dense_blocks

pytestmark = pytest.mark.usefixtures("torch_one_thread")

settings.register_profile(
    "reader",
    max_examples=int(os.environ.get("MODCORE_READER_EXAMPLES", "500")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- the grammar --------------------------------------------------------------------------


@st.composite
def architectures(draw):
    """(input shape without batch, list of ops), every op a tuple (name, *params)."""
    kind = draw(st.sampled_from(["vec", "c1", "c2"]))
    if kind == "vec":
        shape = [draw(st.integers(2, 6))]
    elif kind == "c1":
        shape = [draw(st.integers(1, 3)), draw(st.integers(4, 8))]
    else:
        shape = [draw(st.integers(1, 3)), draw(st.integers(4, 6)), draw(st.integers(4, 6))]
    start = tuple(shape)
    ops = []
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(OPS[kind]))
        made = op(draw, shape)
        if made is None:
            continue
        ops.append(made[0])
        kind, shape = made[1], made[2]
    if kind != "vec":
        ops.append(("flatten",))
        shape = [int(np.prod(shape))]
    ops.append(("linear", 2, False))
    return start, ops


def _layer_vec(draw, shape):
    out = draw(st.integers(1, 6))
    return ("linear", out, draw(_BN_AFTER)), "vec", [out]


def _conv(draw, shape):
    n = len(shape) - 1
    c_in = shape[0]
    groups = draw(st.sampled_from([g for g in (1, 2, 3) if c_in % g == 0]))
    c_out = groups * draw(st.integers(1, 2))
    k = draw(st.integers(1, 3))
    stride = draw(st.integers(1, 2))
    dilation = draw(st.integers(1, 2))
    padding = draw(st.integers(0, 1))
    sizes = [(s + 2 * padding - dilation * (k - 1) - 1) // stride + 1 for s in shape[1:]]
    if min(sizes) < 1:
        return None
    op = ("conv", n, c_in, c_out, k, stride, dilation, padding, groups, draw(_BN_AFTER))
    return op, f"c{n}", [c_out, *sizes]


def _act(draw, shape):
    return ("act", draw(st.sampled_from(["relu", "gelu", "tanh"]))), _kind(shape), shape


# A BatchNorm after a layer: none, one with affine weights, or one without (affine=False).
_BN_AFTER = st.sampled_from([False, True, "plain"])


def _bn(draw, shape):
    if draw(st.booleans()):
        return ("bn", shape[0]), _kind(shape), shape
    return ("bn", shape[0], "plain"), _kind(shape), shape


def _pool(draw, shape):
    n = len(shape) - 1
    k = draw(st.integers(2, 3))
    stride = draw(st.integers(1, 2))
    padding = draw(st.integers(0, k // 2))
    sizes = [(s + 2 * padding - k) // stride + 1 for s in shape[1:]]
    if min(sizes) < 1:
        return None
    return (
        ("pool", n, draw(st.sampled_from(["max", "avg"])), k, stride, padding),
        _kind(shape),
        [
            shape[0],
            *sizes,
        ],
    )


def _feature_pool(draw, shape):
    k = draw(st.integers(2, 3))
    stride = draw(st.integers(1, 2))
    padding = draw(st.integers(0, k // 2))
    size = (shape[0] + 2 * padding - k) // stride + 1
    if size < 1:
        return None
    return ("fpool", draw(st.sampled_from(["max", "avg"])), k, stride, padding), "vec", [size]


def _flatten(draw, shape):
    if draw(st.booleans()) and len(shape) == 2:  # (C, L) -> (L, C) first, then flatten
        return ("tflatten",), "vec", [shape[0] * shape[1]]
    return ("flatten",), "vec", [int(np.prod(shape))]


def _reshape(draw, shape):
    f = shape[0]
    divisors = [d for d in range(1, f + 1) if f % d == 0]
    a = draw(st.sampled_from(divisors))
    return ("reshape", a, f // a), "vec", shape


def _transpose(draw, shape):
    return ("transpose",), _kind(shape), [shape[0], shape[2], shape[1]]


def _flip(draw, shape):
    return ("flip", draw(st.integers(1, len(shape)))), _kind(shape), shape


def _pad(draw, shape):
    left, right = draw(st.integers(-1, 2)), draw(st.integers(-1, 2))
    if len(shape) == 1:
        if shape[0] + left + right < 1:
            return None
        return ("pad", left, right), "vec", [shape[0] + left + right]
    if shape[-1] + left + right < 1:
        return None
    return ("pad", left, right), _kind(shape), [*shape[:-1], shape[-1] + left + right]


def _index(draw, shape):
    n = shape[0]
    index = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n + 2))
    return ("index", tuple(index)), _kind(shape), [len(index), *shape[1:]]


def _scale(draw, shape):
    return ("scale", draw(st.sampled_from([-2.0, 0.5, 3.0, 0.0]))), _kind(shape), shape


def _residual(draw, shape):
    return ("residual", draw(st.booleans())), _kind(shape), shape


def _cat(draw, shape):
    extra = draw(st.integers(1, 3))
    return ("cat", extra), _kind(shape), [shape[0] + extra, *shape[1:]]


def _dropout(draw, shape):
    return ("dropout",), _kind(shape), shape


def _kind(shape):
    return "vec" if len(shape) == 1 else f"c{len(shape) - 1}"


COMMON = [_act, _bn, _flip, _pad, _index, _scale, _residual, _cat, _dropout]
OPS = {
    "vec": [_layer_vec, _feature_pool, _reshape, *COMMON],
    "c1": [_conv, _pool, _flatten, *COMMON],
    "c2": [_conv, _pool, _flatten, _transpose, *COMMON],
}

# -- the model ----------------------------------------------------------------------------


class Random(nn.Module):
    """The model an op list describes; ``oracle`` runs the same list linearized."""

    def __init__(self, start, ops, seed):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.ops = ops
        self.layers = nn.ModuleList()
        self.after = nn.ModuleList()  # a BatchNorm right after each layer, or an Identity
        self.bns = nn.ModuleList()  # the standalone BatchNorms
        shape = list(start)
        for op in ops:
            shape = self._build(op, shape, gen)
        self.double().eval()

    def _layer(self, module, gen, bn):
        with torch.no_grad():
            for p in module.parameters():
                p.copy_(torch.randn(p.shape, generator=gen))
                p[torch.rand(p.shape, generator=gen) < 0.2] = 0  # pruned weights
        self.layers.append(module)
        rank = module.weight.dim()
        norm = self._norm(module.weight.shape[0], rank, gen, bn != "plain") if bn else None
        self.after.append(norm or nn.Identity())

    def _norm(self, n, rank, gen, affine=True):
        bn = (nn.BatchNorm2d if rank == 4 else nn.BatchNorm1d)(n, affine=affine)
        with torch.no_grad():
            if affine:
                bn.weight.copy_(torch.randn(n, generator=gen))
                bn.bias.copy_(torch.randn(n, generator=gen))
            bn.running_mean.copy_(torch.randn(n, generator=gen))
            bn.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
        return bn

    def _build(self, op, shape, gen):
        name = op[0]
        if name == "linear":
            self._layer(nn.Linear(shape[0], op[1]), gen, op[2])
            return [op[1]]
        if name == "conv":
            _, n, c_in, c_out, k, stride, dilation, padding, groups, bn = op
            conv = (nn.Conv1d, nn.Conv2d)[n - 1](
                c_in, c_out, k, stride=stride, dilation=dilation, padding=padding, groups=groups
            )
            self._layer(conv, gen, bn)
            return [c_out] + [
                (s + 2 * padding - dilation * (k - 1) - 1) // stride + 1 for s in shape[1:]
            ]
        if name == "bn":
            self.bns.append(self._norm(shape[0], len(shape) + 1, gen, op[2:] != ("plain",)))
            return shape
        if name == "residual":
            self._residual_layer(shape, gen, op[1])
            return shape
        if name == "cat":
            self._cat_layer(shape, op[1], gen)
            return [shape[0] + op[1], *shape[1:]]
        return _shape_after(op, shape)

    def _residual_layer(self, shape, gen, bn):
        if len(shape) == 1:
            self._layer(nn.Linear(shape[0], shape[0]), gen, bn)
        else:
            conv = (nn.Conv1d, nn.Conv2d)[len(shape) - 2]
            self._layer(conv(shape[0], shape[0], 3, padding=1), gen, bn)

    def _cat_layer(self, shape, extra, gen):
        if len(shape) == 1:
            self._layer(nn.Linear(shape[0], extra), gen, False)
        else:
            conv = (nn.Conv1d, nn.Conv2d)[len(shape) - 2]
            self._layer(conv(shape[0], extra, 1), gen, False)

    def forward(self, x):
        return self.run(x, None)

    def run(self, h, leaves):
        """The forward; with ``leaves`` (a dict filled here), the oracle's linearized run
        in which layer ``i``'s output is ``leaves[i]`` and its input is kept."""
        oracle = leaves is not None
        layer = norm = 0
        for op in self.ops:
            name = op[0]
            if name in ("linear", "conv", "residual", "cat"):
                x = h
                if oracle:  # the layer's output is a free variable; its BN is folded
                    leaves[layer] = x
                    out = leaves["values"][layer]
                else:
                    out = self.after[layer](self.layers[layer](x))
                if name == "cat":
                    out = torch.cat([x, out], 1)
                if name == "residual":
                    out = x + out
                h = out
                layer += 1
            elif name == "bn":
                bn = self.bns[norm]
                if oracle:  # its gain by magnitude, its shift kept (it can shut a max window)
                    scale, shift = _bn_affine(bn)
                    shape = (1, -1) + (1,) * (h.dim() - 2)
                    h = h * scale.abs().reshape(shape) + shift.reshape(shape)
                else:
                    h = bn(h)
                norm += 1
            elif name == "act":
                if not oracle:
                    h = {"relu": torch.relu, "gelu": F.gelu, "tanh": torch.tanh}[op[1]](h)
            elif name == "pool":
                _, n, how, k, stride, padding = op
                # Within a channel any pooling passes the channel at gain 1 where its window
                # holds it: the oracle takes the largest gain of a max over random inputs.
                if how == "max" or oracle:
                    h = (F.max_pool1d, F.max_pool2d)[n - 1](h, k, stride, padding)
                else:
                    h = (F.avg_pool1d, F.avg_pool2d)[n - 1](h, k, stride, padding)
            elif name == "fpool":
                _, how, k, stride, padding = op
                if how == "avg":
                    h = F.avg_pool1d(h, k, stride, padding)
                elif not oracle:
                    h = F.max_pool1d(h, k, stride, padding)
                else:  # every member of a window at gain 1
                    h = F.avg_pool1d(h, k, stride, padding) * k
            elif name == "flatten":
                h = h.flatten(1)
            elif name == "tflatten":
                h = h.transpose(1, 2).flatten(1)
            elif name == "reshape":
                h = h.reshape(h.shape[0], op[1], op[2]).transpose(1, 2).reshape(h.shape[0], -1)
            elif name == "transpose":
                h = h.transpose(2, 3)
            elif name == "flip":
                h = h.flip(op[1])
            elif name == "pad":
                h = F.pad(h, (op[1], op[2]))
            elif name == "index":
                h = h[:, list(op[1])]
            elif name == "scale":
                h = h * (abs(op[1]) if oracle else op[1])
            elif name == "dropout":
                h = F.dropout(h, 0.5, self.training)
        return h


def _shape_after(op, shape):
    name = op[0]
    if name == "pool":
        k, stride, padding = op[3:]
        return [shape[0]] + [(s + 2 * padding - k) // stride + 1 for s in shape[1:]]
    if name == "fpool":
        k, stride, padding = op[2:]
        return [(shape[0] + 2 * padding - k) // stride + 1]
    if name in ("flatten", "tflatten"):
        return [int(np.prod(shape))]
    if name == "transpose":
        return [shape[0], shape[2], shape[1]]
    if name == "pad":
        return [*shape[:-1], shape[-1] + op[1] + op[2]]
    if name == "index":
        return [len(op[1]), *shape[1:]]
    return shape


# -- the oracle ---------------------------------------------------------------------------


def _bn_affine(bn):
    """(scale, shift) of an eval-mode BatchNorm, written here from its definition."""
    one = torch.ones_like(bn.running_var)
    weight = bn.weight if bn.weight is not None else one
    bias = bn.bias if bn.bias is not None else 0 * one
    scale = weight / torch.sqrt(bn.running_var + bn.eps)
    return scale, bias - bn.running_mean * scale


def oracle(model, start):
    """{(source, layer name): expected |edge| block} from Jacobians of each segment."""
    layers = list(model.layers)
    names = ["input"] + [f"layers.{i}" for i in range(len(layers))]
    x = torch.zeros((1, *start), dtype=torch.float64)
    # Output shapes of every layer, from a real forward with hooks.
    shapes = {}
    hooks = [
        m.register_forward_hook(lambda m, a, o, i=i: shapes.__setitem__(i, o.shape))
        for i, m in enumerate(layers)
    ]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    sources = [x] + [torch.zeros(shapes[i], dtype=torch.float64) for i in range(len(layers))]

    def inputs(*values):
        leaves = {"values": values[1:]}
        model.run(values[0], leaves)
        return tuple(leaves[i] for i in range(len(layers)))

    # Max pooling is the one op the oracle keeps nonlinear: its gain from a unit is 1 where
    # the unit can win the window, so the largest |J| over random inputs of both signs.
    gen = torch.Generator().manual_seed(0)
    draws = 16 if any(op[0] == "pool" for op in model.ops) else 1
    gains = None
    for d in range(draws):
        if d % 2 == 0:  # magnitudes 1, 1e2, 1e4: a BatchNorm's shift cannot keep a window shut
            scale = 10.0 ** (2 * (d // 2 % 3))
            point = tuple(
                torch.randn(s.shape, generator=gen, dtype=s.dtype) * scale for s in sources
            )
        else:
            point = tuple(-p for p in point)
        jac = torch.autograd.functional.jacobian(inputs, point, vectorize=True)
        got = [[_gain(j.abs(), src)[0] for j, src in zip(row, sources)] for row in jac]
        if gains is None:
            gains = got
        else:
            gains = [[torch.maximum(a, b) for a, b in zip(r, q)] for r, q in zip(gains, got)]
    expected = {}
    for i, layer in enumerate(layers):
        w = layer.weight.detach()
        bn = model.after[i]
        if not isinstance(bn, nn.Identity):  # folded: scales the layer's output units
            scale = _bn_affine(bn)[0].detach()
            w = w * scale.reshape(-1, *[1] * (w.dim() - 1))
        for s in range(len(sources)):
            j = gains[i][s]  # (input entries of layer i..., source units)
            if isinstance(layer, nn.Linear):
                block = (w.abs() @ j).t()  # (units, out)
            else:
                gain = j.reshape(j.shape[0], -1, j.shape[-1]).amax(1)  # (in channels, units)
                norms = _grouped_l1(layer, w)  # (out, in channels)
                block = (norms @ gain).t()
            if block.abs().sum() > 0:
                expected[(names[s], names[i + 1])] = block.numpy()
    return expected


def _gain(j, source):
    """|J| with the batch dims dropped, summed over the positions of each source unit."""
    out_dims = j.dim() - source.dim()
    j = j.reshape(*j.shape[:out_dims], *source.shape)
    j = j.select(out_dims, 0)  # the source's batch of one
    return j.reshape(*j.shape[:out_dims], source.shape[1], -1).sum(-1)


def _grouped_l1(conv, w):
    """(out, in) l1 norms of the kernel slices, zero across groups."""
    out, per_group = w.shape[0], w.shape[1]
    norms = torch.zeros(out, per_group * conv.groups, dtype=torch.float64)
    size = out // conv.groups
    for g in range(conv.groups):
        norms[g * size : (g + 1) * size, g * per_group : (g + 1) * per_group] = (
            w[g * size : (g + 1) * size].abs().flatten(2).sum(-1)
        )
    return norms


# -- the property -------------------------------------------------------------------------


@settings(settings.get_profile("reader"))
@given(architectures(), st.integers(0, 2**16))
# One input unit duplicated, two BatchNorms of opposite-signed scales on its copies, a max
# over both: the oracle once took |a + b| here (found by this test in session 7).
@example(
    ((2,), [("index", (0, 0)), ("dropout",), ("bn", 2), ("bn", 2), ("fpool", "max", 2, 1, 0),
            ("linear", 1, False), ("linear", 2, False)]),
    54,
)  # fmt: skip
def test_a_random_architecture_is_read_right_or_refused_naming_an_op(arch, seed):
    start, ops = arch
    model = Random(start, ops, seed)
    try:
        net = Network.from_torch(model, input_shape=start, verify=True)
    except ValueError as exc:
        assert "cannot read node" in str(exc) or "ops: '" in str(exc), str(exc)
        hypothesis.event(f"refused: {str(exc).split(':')[0][:60]}")
        return
    hypothesis.event("read")
    got = dense_blocks(net, nonzero=True)
    expected = oracle(model, start)
    assert set(got) == set(expected), (ops, sorted(got), sorted(expected))
    for key, block in expected.items():
        np.testing.assert_allclose(got[key], block, rtol=1e-7, atol=1e-9, err_msg=str((key, ops)))


@pytest.mark.parametrize("pool", [F.avg_pool1d, F.max_pool1d])
def test_paths_of_opposite_signs_from_one_unit_add_by_magnitude(pool):
    """By hand (docs/torch_ops.rst: paths add by absolute value): x0 copied twice, the
    copies scaled by a BatchNorm by 2 and by -0.5, pooled over features into one, then a
    Linear of weight 3: the edge from x0 is 3 * (2 + 0.5) * g, g the pool's gain (1/2 for
    the mean, 1 for the max), never 3 * |2 - 0.5| * g."""

    class Copies(nn.Module):
        def __init__(self):
            super().__init__()
            self.bn = nn.BatchNorm1d(2, eps=0.0)
            self.fc = nn.Linear(1, 1, bias=False)
            with torch.no_grad():
                self.bn.weight.copy_(torch.tensor([2.0, -0.5]))
                self.bn.running_var.fill_(1.0)
                self.fc.weight.fill_(3.0)
            self.eval()

        def forward(self, x):
            h = self.bn(x[:, [0, 0]])
            return self.fc(pool(h, 2))  # over the features of (batch, features)

    net = Network.from_torch(Copies(), input_shape=(2,))
    gain = 0.5 if pool is F.avg_pool1d else 1.0
    block = dense_blocks(net, nonzero=True)[("input", "fc")]  # x1 reaches nothing
    np.testing.assert_allclose(block, [[7.5 * gain], [0.0]])
