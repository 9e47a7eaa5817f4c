"""One reader for torch models (issue 26): every entry point traces a module, routing is
read from the ops' arguments, and the graph is checked against the model's autograd.
Expected graphs are worked out here from the weights with numpy."""

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F
from torch import nn

import modcore
from modcore.network.convert import as_network
from modcore.network.network import Network
from modcore.network.torch import trace_walk
from modcore.network.torch.verify import VerificationSkipped
from oracles import dense_blocks

pytestmark = pytest.mark.usefixtures("torch_one_thread")


class Two(nn.Module):
    """a (5 -> 12), then ``mid`` on the hidden features, then b (12 -> 3)."""

    def __init__(self, mid, n_mid=12):
        super().__init__()
        torch.manual_seed(0)
        self.a, self.b = nn.Linear(5, 12), nn.Linear(n_mid, 3)
        self.mid = mid

    def forward(self, x):
        return self.b(self.mid(torch.relu(self.a(x))))


class Fn(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, h):
        return self.fn(h)


class Flip(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h):
        return h.flip(1)

    @staticmethod
    def backward(ctx, grad):
        return grad.flip(1)


PERM = np.array([3, 7, 0, 11, 5, 1, 9, 2, 10, 4, 8, 6])
AR = np.arange(12)


def window(kind, k=3):
    """M[i, j]: weight of hidden feature i in feature j after a size-3, stride-1, pad-1 pool."""
    near = np.abs(AR[:, None] - AR[None, :]) <= k // 2
    return near * (1 / k if kind == "avg" else 1.0)


# name, mid, M with M[i, j] = weight of hidden unit i in feature j of b's input
MOVES = [
    (
        "view-transpose-reshape",
        lambda h: h.view(h.shape[0], 3, 4).transpose(1, 2).reshape(h.shape[0], 12),
        AR.reshape(3, 4).T.reshape(12),
    ),
    ("index with a constant permutation", lambda h: h[:, torch.as_tensor(PERM)], PERM),
    (
        "index_select by keyword",
        lambda h: torch.index_select(h, dim=1, index=torch.as_tensor(PERM)),
        PERM,
    ),
    ("flip", lambda h: h.flip(1), AR[::-1]),
    ("roll", lambda h: h.roll(3, 1), np.roll(AR, 3)),
    ("custom autograd Function", lambda h: Flip.apply(h), AR[::-1]),
    ("pad with a negative side", lambda h: F.pad(h, (1, -1)), np.r_[-1, AR[:-1]]),
    ("ConstantPad1d crop", nn.ConstantPad1d((2, -2), 3.0), np.r_[-1, -1, AR[:-2]]),
    ("reflection pad", nn.ReflectionPad1d((1, 0)), None),
    ("narrow", lambda h: torch.cat([h.narrow(1, 6, 6), h.narrow(1, 0, 6)], dim=1), np.roll(AR, 6)),
    ("avg pool over features", nn.AvgPool1d(3, 1, 1), window("avg")),
    ("max pool over features", nn.MaxPool1d(3, 1, 1), window("max")),
    ("scalar by keyword", lambda h: torch.mul(h, other=-2.0), 2 * np.eye(12)),
]


def expected_block(model, route):
    w = model.b.weight.detach().abs().numpy().T  # (features, 3)
    if route.ndim == 2:
        return route @ w
    out = np.zeros((12, 3))
    for f, u in enumerate(route):
        if u >= 0:
            out[u] += w[f]
    return out


@pytest.mark.parametrize("name, mid, route", MOVES, ids=[m[0] for m in MOVES])
def test_ops_that_move_features_are_routed_from_their_arguments(name, mid, route):
    n_mid = 13 if name == "reflection pad" else 12
    model = Two(mid if isinstance(mid, nn.Module) else Fn(mid), n_mid)
    if route is None:  # reflection: feature 0 is unit 1, feature f is unit f - 1
        route = np.r_[1, AR]
        w = model.b.weight.detach().abs().numpy().T
        expected = np.zeros((12, 3))
        np.add.at(expected, route, w)
    else:
        expected = expected_block(model, route)
    for net in (as_network(model), Network.from_torch(model, verify=True)):
        np.testing.assert_allclose(dense_blocks(net)[("a", "b")], expected, rtol=1e-6)


def test_every_entry_point_traces_a_module_and_agrees():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(1)
            self.a, self.b = nn.Linear(6, 8), nn.Linear(8, 4)

        def forward(self, x):
            return self.b(torch.relu(self.a(x)) * 100)

    model = Scaled()
    traced = Network.from_torch(model)
    got = dense_blocks(as_network(model))
    np.testing.assert_allclose(got[("a", "b")], 100 * model.b.weight.detach().abs().numpy().T)
    assert (
        modcore.spectral_cluster(model, n_clusters=3, seed=0).ncut
        == modcore.spectral_cluster(traced, n_clusters=3, seed=0).ncut
    )


@pytest.mark.parametrize("depth", [1, 2, 4])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("width", [1, 7])
def test_chain_reader_and_tracer_agree_on_plain_mlps(depth, dtype, width, tmp_path):
    torch.manual_seed(depth * 10 + width)
    layers = [nn.Flatten()]
    sizes = [6] + [width] * depth + [3]
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU(), nn.Dropout(0.5)]
    model = nn.Sequential(*layers[:-2]).to(dtype)
    with torch.no_grad():
        model[1].weight.mul_(-3.0)  # signs and scales of every kind
    torch.save(model.state_dict(), tmp_path / "m.pt")
    traced = as_network(model)
    for other in (as_network(model.state_dict()), as_network(tmp_path / "m.pt")):
        assert traced.sizes == other.sizes
        for x, y in zip(traced.chain_weights(), other.chain_weights()):
            np.testing.assert_allclose(x, y, rtol=1e-6)
            assert (y >= 0).all()
    # input_shape reaches the tracer: a (2, 3) input is two units (channels).
    assert as_network(model, input_shape=(2, 3)).sizes[0] == 2


def test_keyword_operands_are_read():
    class Kw(nn.Module):
        def __init__(self, how):
            super().__init__()
            torch.manual_seed(2)
            self.a, self.g, self.b = (
                nn.Linear(4, 4),
                nn.Linear(4, 3),
                nn.Linear(7 if how == "cat" else 4, 2),
            )
            self.how = how

        def forward(self, x):
            h = self.a(x)
            g = self.g(h)
            if self.how == "cat":
                return self.b(torch.cat(tensors=[g, h], dim=1))
            g = F.pad(g, (0, 1))
            return self.b(torch.add(g, other=h, alpha=2) if self.how == "add" else g.add(other=h))

    for how in ("add", "method", "cat"):
        model = Kw(how)
        got = dense_blocks(Network.from_torch(model, verify=True))
        w = model.b.weight.detach().abs().numpy().T
        if how == "cat":
            np.testing.assert_allclose(got[("g", "b")], w[:3], rtol=1e-6)
            np.testing.assert_allclose(got[("a", "b")], w[3:], rtol=1e-6)
        else:
            np.testing.assert_allclose(got[("g", "b")], w[:3], rtol=1e-6)
            np.testing.assert_allclose(got[("a", "b")], (2 if how == "add" else 1) * w, rtol=1e-6)


class InPlace(nn.Module):
    def __init__(self, how):
        super().__init__()
        torch.manual_seed(3)
        self.a, self.b = nn.Linear(3, 8), nn.Linear(8, 2)
        self.how = how

    def forward(self, x):
        h = torch.relu(self.a(x))
        if self.how == "alias":
            v = h.view(x.shape[0], 8)
            v.mul_(0)
            return self.b(h)
        if self.how == "constant":
            acc = torch.zeros(2, 8)
            acc.add_(h)
            return self.b(acc)
        acc = x.new_zeros(x.shape[0], 8)
        acc.add_(h)
        return self.b(acc)


def test_in_place_writes_are_modelled_or_refused():
    with pytest.raises(ValueError, match=r"'mul_'.*shares memory with 'relu'"):
        as_network(InPlace("alias"))
    with pytest.raises(ValueError, match=r"'add_'.*in place into the constant"):
        as_network(InPlace("constant"))
    model = InPlace("new")
    got = dense_blocks(as_network(model))
    np.testing.assert_allclose(got[("a", "b")], model.b.weight.detach().abs().numpy().T)


def test_data_dependent_control_flow_is_refused_by_every_entry_point():
    class Branch(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.dead, self.b = nn.Linear(3, 4), nn.Linear(4, 4), nn.Linear(4, 2)

        def forward(self, x):
            h = self.a(x)
            if x.abs().sum() == 0:
                h = self.dead(h)
            return self.b(h)

    for entry in (
        lambda m: modcore.spectral_cluster(m, n_clusters=2, seed=0),
        lambda m: modcore.ncut_significance(m, n_clusters=2, n_shuffles=2, seed=0, progress=False),
        Network.from_torch,
    ):
        with pytest.raises(ValueError, match="data-dependent control flow"):
            entry(Branch())


# -- the check against the model --------------------------------------------------------


def test_a_misread_op_is_caught_by_the_check(monkeypatch):
    # Sabotage the routing table: every op that moves entries read as the identity.
    monkeypatch.setattr(trace_walk.GraphWalk, "_move", lambda self, node, op: self._value_arg(node))
    model = Two(Fn(lambda h: h.roll(1, 1)))
    with pytest.raises(ValueError, match=r"autograd shows .*'roll' \(method \.roll\(\)\)"):
        Network.from_torch(model)
    assert Network.from_torch(model, verify=False).sizes == (5, 12, 3)


def test_a_lost_dependence_is_caught_by_the_check(monkeypatch):
    # A scale read as 1 where the model multiplies by 0: declared edges, no dependence.
    monkeypatch.setattr(
        trace_walk.GraphWalk,
        "_scale",
        lambda self, node, divide, factor=None: self._value(node.args[0]),
    )
    model = nn.Sequential(nn.Linear(3, 4), Fn(lambda h: h * 0), nn.Linear(4, 2))
    with pytest.raises(ValueError, match=r"no dependence.*'mul'"):
        Network.from_torch(model)
    # Behind a gate but with no shift (no BatchNorm, no constant added), a ReLU cannot be shut
    # for every input of both signs: a silent unit is a misread there too.
    gated = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), Fn(lambda h: h * 0), nn.Linear(4, 2))
    with pytest.raises(ValueError, match=r"no dependence.*'mul'"):
        Network.from_torch(gated)
    # A cancellation the table sums by absolute value is caught the same way.
    with pytest.raises(ValueError, match=r"no dependence.*'sub'"):
        monkeypatch.undo()
        Network.from_torch(Two(Fn(lambda h: h - h)))


def test_relu_dead_zones_and_bn_shifts_do_not_fail_the_check():
    torch.manual_seed(4)
    model = nn.Sequential(
        nn.Conv2d(3, 6, 3),
        nn.BatchNorm2d(6),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 4, 1),
        nn.Flatten(),
        nn.Linear(4 * 16, 5),
        nn.ReLU6(),
        nn.Linear(5, 2),
    ).eval()
    with torch.no_grad():
        model[1].running_mean.fill_(50.0)  # shifts every pre-activation far below zero
        model[1].weight[2] = 0.0  # a channel the BatchNorm silences
    net = Network.from_torch(model, input_shape=(3, 10, 10), verify=True)
    assert dense_blocks(net)[("input", "0")][:, 2].sum() == 0  # folded into the incoming weights


def test_a_large_model_skips_the_check_with_a_warning(monkeypatch):
    monkeypatch.setattr("modcore.network.torch.verify.AUTO_LIMIT", 10)
    model = Two(nn.ReLU())
    with pytest.warns(VerificationSkipped, match="verify=True"):
        Network.from_torch(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Network.from_torch(model, verify=True)
        Network.from_torch(model, verify=False)
    with pytest.raises(TypeError, match="verify must be"):
        Network.from_torch(model, verify="yes")


# -- checkpoints and files --------------------------------------------------------------


def test_a_checkpoint_config_is_checked_against_its_tensors_before_building(tmp_path, monkeypatch):
    from modcore.nn import MLP, checkpoint

    path = tmp_path / "ok.pt"
    checkpoint.save(MLP([4, 3, 2], seed=0), path)
    payload = torch.load(path, weights_only=True)
    built = []

    def record(**config):  # builds on the meta device only: no memory, no time
        built.append(torch.empty(0).device.type)
        return MLP(**config)

    monkeypatch.setitem(checkpoint.ARCHITECTURES, "mlp", record)
    for widths in ([784, 30000, 30000, 10], [784, 10**6, 10]):
        payload["config"]["widths"] = widths
        torch.save(payload, tmp_path / "edited.pt")
        with pytest.raises(ValueError, match=r"do not match its config .*nothing was built"):
            checkpoint.load(tmp_path / "edited.pt")
    assert built == ["meta", "meta"]
    monkeypatch.undo()
    monkeypatch.setattr(checkpoint, "MAX_PARAMETERS", 10)
    with pytest.raises(ValueError, match="more than the 10"):
        checkpoint.load(path)
    monkeypatch.undo()
    # A checkpoint given to any entry point rebuilds its model, which is traced.
    net = as_network(path)
    assert net.names == ("input", "0", "2")


@pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")
def test_program_archives_say_what_they_are_and_what_to_pass(tmp_path):
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    torch.jit.trace(model, torch.zeros(1, 4)).save(tmp_path / "ts.pt")
    with pytest.raises(
        ValueError, match=r"TorchScript archive.*--model.*\.pt2.*Network\.from_torch"
    ):
        as_network(tmp_path / "ts.pt")
    torch.export.save(torch.export.export(model, (torch.zeros(1, 4),)), tmp_path / "ep.pt")
    with pytest.raises(ValueError, match=r"torch\.export archive.*named \.pt2.*rename it"):
        as_network(tmp_path / "ep.pt")
    (tmp_path / "ep.pt").rename(tmp_path / "ep.pt2")
    assert as_network(tmp_path / "ep.pt2").names == ("input", "0")


def test_from_adjacency_of_a_list_says_what_it_expected():
    with pytest.raises(TypeError, match=r"numpy array or scipy\.sparse matrix, got a list"):
        Network.from_adjacency([[0, 1], [1, 0]])


@pytest.mark.parametrize("name, mid, route", MOVES[:4], ids=[m[0] for m in MOVES[:4]])
def test_weights_from_module_refuses_a_chain_that_is_not_the_graph(name, mid, route):
    with pytest.raises(ValueError, match="moves, drops or scales units"):
        modcore.weights_from_module(Two(Fn(mid)))
    plain = Two(nn.Dropout(0.5))
    assert [w.shape for w in modcore.weights_from_module(plain)] == [(5, 12), (12, 3)]


def test_a_residual_cnn_with_in_place_ops_passes_the_check():
    class Block(nn.Module):  # torchvision's BasicBlock, small
        def __init__(self, c_in, c_out, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(c_out)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(c_out)
            self.down = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride), nn.BatchNorm2d(c_out))

        def forward(self, x):
            identity = self.down(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            out += identity
            return self.relu(out)

    torch.manual_seed(5)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        Block(4, 6, 2),
        Block(6, 6, 1),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(6, 3),
    ).eval()
    net = Network.from_torch(model, input_shape=(3, 8, 8), verify=True)
    got = dense_blocks(net)
    assert ("1.conv2", "2.conv1") in got and ("1.down.0", "2.conv1") in got
    assert ("2.conv2", "5") in got and ("2.down.0", "5") in got  # the residual sum


def test_a_cnn_checkpoint_is_traced_with_its_recorded_input_shape(tmp_path):
    from modcore.nn import CNN, checkpoint

    model = CNN(channels=(4,), pool_after=(True,), seed=0)
    checkpoint.save(model, tmp_path / "cnn.pt")
    net = as_network(tmp_path / "cnn.pt")
    assert net.names[:2] == ("input", "0") and net.sizes[:2] == (model.input_shape[0], 4)
    expected = Network.from_torch(model, input_shape=model.input_shape)
    assert net.sizes == expected.sizes
