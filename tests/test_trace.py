"""modcore.nn.trace: torch models to unit graphs, checked against graphs worked out by
hand, torch's own BatchNorm folding and the MLP chain reader."""

import copy
import doctest
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn
from torch.nn.utils import fusion, prune

from modcore import weights_from_module
from modcore.network.network import Network
from modcore.network.torch import trace
from modcore.network.torch.trace import network_from_module
from modcore.network.torch.verify import VerificationSkipped

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def blocks_by_name(net):
    """{(src name, dst name): dense |w| matrix}, summing blocks between the same groups."""
    out = {}
    for b in net.blocks:
        dense = np.zeros(b.shape)
        rows, cols, vals = b.coo()
        np.add.at(dense, (rows, cols), np.abs(vals))
        key = (net.names[b.src], net.names[b.dst])
        out[key] = out.get(key, 0) + dense
    return out


def set_weights(module, values):
    with torch.no_grad():
        module.weight.copy_(torch.as_tensor(values, dtype=torch.float32))


# -- a CNN worked out by hand ---------------------------------------------------------


class HandCNN(nn.Module):
    """1x4x4 -> conv1 (2 ch, 2x2) -> 2x3x3 -> conv2 (2 ch, 2x2) -> 2x2x2 -> flatten -> fc (2)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 2, 2, bias=False)
        self.conv2 = nn.Conv2d(2, 2, 2, bias=False)
        self.fc = nn.Linear(8, 2, bias=False)
        set_weights(self.conv1, [[[[1, -2], [3, 0]]], [[[0, 1], [-1, 1]]]])
        set_weights(
            self.conv2,
            [
                [[[1, 1], [1, 1]], [[0, -3], [0, 4]]],  # out 0: from in 0, in 1
                [[[2, 0], [0, 0]], [[1, 2], [0, 2]]],
            ],
        )  # out 1
        set_weights(self.fc, [[1, -1, 0, 2, 0, 0, 0, 0.5], [0, 0, 0, 0, 1, 1, -1, 1]])

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        return self.fc(x.flatten(1))


# Entry [i, j] is the norm of kernel slice W[j, i], worked out from the weights above.
# max_column: the largest column sum of |w| (rows summed); conv2's W[1, 1] = [[1, 2], [0, 2]]
# has column sums 1, 4 (-> 4) but row sums 3, 2, so a row/column mix-up shows.
HAND = {
    "l1": {("input", "conv1"): [[6, 3]], ("conv1", "conv2"): [[4, 2], [7, 5]]},
    "l2": {
        ("input", "conv1"): [[math.sqrt(14), math.sqrt(3)]],
        ("conv1", "conv2"): [[2, 2], [5, 3]],
    },
    "max_column": {("input", "conv1"): [[4, 2]], ("conv1", "conv2"): [[2, 2], [7, 4]]},
}
# fc: channel c -> unit u is the sum of |W[u, f]| over f = 4c .. 4c + 3, whatever the norm.
HAND_FC = [[4, 0], [0.5, 4]]


@pytest.mark.parametrize("kernel_norm", ["l1", "l2", "max_column"])
def test_hand_cnn_channel_graph(kernel_norm):
    net = network_from_module(HandCNN(), input_shape=(1, 4, 4), kernel_norm=kernel_norm)
    assert net.names == ("input", "conv1", "conv2", "fc")
    assert net.sizes == (1, 2, 2, 2)
    got = blocks_by_name(net)
    assert set(got) == {("input", "conv1"), ("conv1", "conv2"), ("conv2", "fc")}
    for key, expected in HAND[kernel_norm].items():
        np.testing.assert_allclose(got[key], expected, rtol=1e-12)
    np.testing.assert_allclose(got[("conv2", "fc")], HAND_FC, rtol=1e-12)
    assert net.is_chain and net.is_bipartite


def test_example_input_gives_the_same_graph_as_input_shape():
    a = network_from_module(HandCNN(), input_shape=(1, 4, 4))
    b = network_from_module(HandCNN(), example_input=torch.randn(3, 1, 4, 4))
    assert a.names == b.names
    for key, block in blocks_by_name(a).items():
        np.testing.assert_array_equal(blocks_by_name(b)[key], block)


def test_group_options_and_paper_preset():
    full = blocks_by_name(network_from_module(HandCNN(), input_shape=(1, 4, 4)))
    no_input = network_from_module(HandCNN(), input_shape=(1, 4, 4), include_input=False)
    assert no_input.names == ("conv1", "conv2", "fc")
    no_dense = network_from_module(HandCNN(), input_shape=(1, 4, 4), include_dense=False)
    assert no_dense.names == ("input", "conv1", "conv2")
    paper = network_from_module(HandCNN(), input_shape=(1, 4, 4), preset="paper_cnn")
    assert paper.names == ("conv1", "conv2")
    assert list(blocks_by_name(paper)) == [("conv1", "conv2")]
    np.testing.assert_array_equal(
        blocks_by_name(paper)[("conv1", "conv2")], full[("conv1", "conv2")]
    )


def test_grouped_and_depthwise_convolutions_join_only_their_group():
    model = nn.Sequential(nn.Conv2d(4, 4, 1, groups=2, bias=False))
    set_weights(model[0], np.array([[1, 2], [3, 4], [5, 6], [7, 8]]).reshape(4, 2, 1, 1))
    net = network_from_module(model, input_shape=(4, 3, 3))
    block = net.blocks[0]
    assert block.dense is None and block.nnz == 8  # stored sparse
    # Output channels 0, 1 read input channels 0, 1 (W[j, i]); 2, 3 read 2, 3.
    np.testing.assert_array_equal(
        blocks_by_name(net)[("input", "0")],
        [[1, 3, 0, 0], [2, 4, 0, 0], [0, 0, 5, 7], [0, 0, 6, 8]],
    )
    depthwise = nn.Sequential(nn.Conv1d(2, 4, 1, groups=2, bias=False))  # multiplier 2
    set_weights(depthwise[0], np.array([1, 2, 3, 4]).reshape(4, 1, 1))
    net = network_from_module(depthwise, input_shape=(2, 5))
    np.testing.assert_array_equal(blocks_by_name(net)[("input", "0")], [[1, 2, 0, 0], [0, 0, 3, 4]])


def test_transposed_convolutions_read_their_in_out_layout():
    model = nn.Sequential(nn.ConvTranspose2d(2, 3, 2, bias=False))  # weight (in, out, 2, 2)
    w = np.arange(24, dtype=float).reshape(2, 3, 2, 2) - 10
    set_weights(model[0], w)
    net = network_from_module(model, input_shape=(2, 3, 3))
    np.testing.assert_allclose(blocks_by_name(net)[("input", "0")], np.abs(w).sum((2, 3)))
    grouped = nn.Sequential(nn.ConvTranspose2d(4, 2, 1, groups=2, bias=False))  # (4, 1, 1, 1)
    set_weights(grouped[0], np.array([1, -2, 3, 4]).reshape(4, 1, 1, 1))
    net = network_from_module(grouped, input_shape=(4, 3, 3))
    np.testing.assert_array_equal(
        blocks_by_name(net)[("input", "0")], [[1, 0], [2, 0], [0, 3], [0, 4]]
    )


# -- BatchNorm ------------------------------------------------------------------------


def randomize_bn(bn, gen):
    with torch.no_grad():
        n = bn.num_features
        bn.weight.copy_(torch.rand(n, generator=gen) * 4 - 2)  # negative gammas too
        bn.bias.copy_(torch.randn(n, generator=gen))
        bn.running_mean.copy_(torch.randn(n, generator=gen))
        bn.running_var.copy_(torch.rand(n, generator=gen) * 3 + 0.2)


class ConvBNNet(nn.Module):
    def __init__(self):
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.conv1, self.bn1 = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.conv2, self.bn2 = nn.Conv2d(4, 5, 3), nn.BatchNorm2d(5)
        self.fc, self.bn3 = nn.Linear(5, 3), nn.BatchNorm1d(3)
        for bn in (self.bn1, self.bn2, self.bn3):
            randomize_bn(bn, gen)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        return self.bn3(self.fc(x.mean((2, 3))))


def test_batchnorm_folding_matches_torch_fusion():
    model = ConvBNNet().eval()
    folded = copy.deepcopy(model)
    folded.conv1 = fusion.fuse_conv_bn_eval(folded.conv1, folded.bn1)
    folded.conv2 = fusion.fuse_conv_bn_eval(folded.conv2, folded.bn2)
    folded.fc = fusion.fuse_linear_bn_eval(folded.fc, folded.bn3)
    folded.bn1, folded.bn2, folded.bn3 = nn.Identity(), nn.Identity(), nn.Identity()
    x = torch.randn(4, 3, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model(x), rtol=1e-4, atol=1e-5)
    got = blocks_by_name(network_from_module(model, input_shape=(3, 6, 6)))
    expected = blocks_by_name(network_from_module(folded, input_shape=(3, 6, 6)))
    assert set(got) == set(expected)
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-5)
    # The fold matters: without it the blocks into conv1 differ.
    unfolded = copy.deepcopy(model)
    unfolded.bn1 = nn.Identity()
    plain = blocks_by_name(network_from_module(unfolded, input_shape=(3, 6, 6)))
    assert not np.allclose(plain[("input", "conv1")], got[("input", "conv1")])


def bn_scale(bn):
    return (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach().numpy().astype(float)


def l1(conv):
    """(in, out) l1 norms of conv kernel slices, by numpy."""
    return np.abs(conv.weight.detach().numpy().astype(float)).sum((2, 3)).T


def test_batchnorm_elsewhere_scales_the_consumers_input_side():
    class PreAct(nn.Module):  # conv -> relu -> BN -> conv: the BN does not follow a layer
        def __init__(self):
            super().__init__()
            self.conv1, self.bn = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)
            self.conv2 = nn.Conv2d(4, 5, 3)
            randomize_bn(self.bn, torch.Generator().manual_seed(1))

        def forward(self, x):
            return self.conv2(self.bn(torch.relu(self.conv1(x))))

    model = PreAct()
    got = blocks_by_name(network_from_module(model, input_shape=(3, 7, 7)))
    np.testing.assert_allclose(got[("input", "conv1")], l1(model.conv1), rtol=1e-6)
    expected = np.abs(bn_scale(model.bn))[:, None] * l1(model.conv2)  # row i scaled by |s_i|
    np.testing.assert_allclose(got[("conv1", "conv2")], expected, rtol=1e-6)


def test_batchnorm_on_a_layer_output_with_another_reader_is_not_folded():
    class TwoReaders(nn.Module):  # conv1's output is read by the BN and by the add
        def __init__(self):
            super().__init__()
            self.conv1, self.bn = nn.Conv2d(2, 3, 1), nn.BatchNorm2d(3)
            self.conv2 = nn.Conv2d(3, 2, 1)
            randomize_bn(self.bn, torch.Generator().manual_seed(2))

        def forward(self, x):
            y = self.conv1(x)
            return self.conv2(self.bn(y) + y)

    model = TwoReaders()
    got = blocks_by_name(network_from_module(model, input_shape=(2, 3, 3)))
    np.testing.assert_allclose(got[("input", "conv1")], l1(model.conv1), rtol=1e-6)
    # Two paths from conv1 into conv2: through the BN (scaled) and straight.
    expected = (np.abs(bn_scale(model.bn))[:, None] + 1) * l1(model.conv2)
    np.testing.assert_allclose(got[("conv1", "conv2")], expected, rtol=1e-6)


def test_batchnorm_without_running_statistics_is_refused():
    model = nn.Sequential(
        nn.Conv2d(2, 3, 1),
        nn.ReLU(),
        nn.BatchNorm2d(3, track_running_stats=False),
        nn.Conv2d(3, 2, 1),
    )
    with pytest.raises(ValueError, match="running statistics"):
        network_from_module(model, input_shape=(2, 3, 3))


# -- flatten, residual add, cat, scaling ----------------------------------------------


class FlattenNet(nn.Module):
    def __init__(self, how):
        super().__init__()
        self.how = how
        self.conv = nn.Conv2d(1, 3, 3, padding=1)
        self.fc = nn.Linear(48, 2)
        w = torch.zeros(2, 48)
        # Non-zero only on channel 2's 16 positions (features 32..47).
        w[:, 32:] = torch.arange(1, 33, dtype=torch.float32).reshape(2, 16)
        set_weights(self.fc, w)

    def forward(self, x):
        x = torch.relu(self.conv(x))
        if self.how == "flatten":
            x = x.flatten(1)
        elif self.how == "view":
            x = x.view(x.size(0), -1)
        else:
            x = torch.reshape(x, (x.shape[0], 48))
        return self.fc(x)


@pytest.mark.parametrize("how", ["flatten", "view", "reshape"])
def test_flatten_is_channel_major(how):
    got = blocks_by_name(network_from_module(FlattenNet(how), input_shape=(1, 4, 4)))
    block = got[("conv", "fc")]
    np.testing.assert_array_equal(block[:2], 0)
    # Channel 2 -> unit u: the sum of |W[u, f]| over its positions, 1..16 and 17..32.
    np.testing.assert_array_equal(block[2], [sum(range(1, 17)), sum(range(17, 33))])


class ResBlock(nn.Module):
    """A residual block with a projection shortcut: stem -> conv1 -> conv2 -> fc and
    stem -> short -> fc, a cycle of five groups."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.conv1 = nn.Conv2d(4, 6, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(6, 6, 3, padding=1, bias=False)
        self.short = nn.Conv2d(4, 6, 1, bias=False)
        self.fc = nn.Linear(6, 2)

    def forward(self, x):
        s = torch.relu(self.stem(x))
        y = self.conv2(torch.relu(self.conv1(s)))
        y = torch.relu(y + 0.5 * self.short(s))
        return self.fc(y.mean((2, 3)))


def test_residual_block_adjacency_and_bipartiteness():
    model = ResBlock()
    net = network_from_module(model, input_shape=(3, 5, 5))
    assert net.names == ("input", "stem", "conv1", "conv2", "short", "fc")
    assert not net.is_bipartite
    sizes = dict(zip(net.names, net.sizes))
    offset = dict(zip(net.names, np.cumsum([0, *net.sizes[:-1]])))
    fc = np.abs(model.fc.weight.detach().numpy().astype(float)).T
    hand = [
        ("input", "stem", l1(model.stem)),
        ("stem", "conv1", l1(model.conv1)),
        ("conv1", "conv2", l1(model.conv2)),
        ("stem", "short", l1(model.short)),
        ("conv2", "fc", fc),
        ("short", "fc", 0.5 * fc),
    ]
    expected = np.zeros((net.n_units, net.n_units))
    for src, dst, block in hand:
        assert block.shape == (sizes[src], sizes[dst])
        expected[offset[src] : offset[src] + sizes[src], offset[dst] : offset[dst] + sizes[dst]] = (
            block
        )
    expected += expected.T
    np.testing.assert_allclose(net.adjacency().toarray(), expected, rtol=1e-6)


def test_chains_are_bipartite():
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 5, 1),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(5, 2),
    )
    net = network_from_module(model, input_shape=(3, 6, 6))
    assert net.is_chain and net.is_bipartite


def test_channel_cat_offsets_the_sources():
    class Inception(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Conv2d(3, 2, 1), nn.Conv2d(3, 3, 3, padding=1)
            self.c = nn.Conv2d(5, 4, 1)

        def forward(self, x):
            return self.c(torch.cat([self.a(x), torch.relu(self.b(x))], dim=1))

    model = Inception()
    got = blocks_by_name(network_from_module(model, input_shape=(3, 4, 4)))
    wc = np.abs(model.c.weight.detach().numpy().astype(float)).sum((2, 3))  # (4, 5)
    np.testing.assert_allclose(got[("a", "c")], wc[:, :2].T, rtol=1e-6)
    np.testing.assert_allclose(got[("b", "c")], wc[:, 2:].T, rtol=1e-6)
    assert ("input", "c") not in got


@pytest.mark.parametrize(
    "op, factor",
    [
        (lambda y: y * 3.0, 3.0),
        (lambda y: 2 * y, 2.0),
        (lambda y: y / 4, 0.25),
        (lambda y: -y, 1.0),
        (lambda y: y.mul(0.5), 0.5),
        (lambda y: y + 1.0, 1.0),
        (lambda y: y / y.shape[2], 0.5),  # a scalar computed from a shape
    ],
)
def test_scalar_factors_scale_the_path(op, factor):
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(2, 3, 1), nn.Conv2d(3, 2, 1)

        def forward(self, x):
            return self.conv2(op(self.conv1(x)))

    model = Scaled()
    got = blocks_by_name(network_from_module(model, input_shape=(2, 2, 2)))
    np.testing.assert_allclose(got[("conv1", "conv2")], factor * l1(model.conv2), rtol=1e-6)


def test_a_one_element_parameter_scales_the_path():
    class LearnedScale(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(2, 3, 1), nn.Conv2d(3, 2, 1)
            self.gamma = nn.Parameter(torch.tensor([-3.0]))

        def forward(self, x):
            return self.conv2(self.conv1(x) * self.gamma.view(1, 1, 1, 1))

    model = LearnedScale()
    got = blocks_by_name(network_from_module(model, input_shape=(2, 2, 2)))
    np.testing.assert_allclose(got[("conv1", "conv2")], 3 * l1(model.conv2), rtol=1e-6)


def test_in_place_add_reaches_later_readers():
    class InPlace(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.c = nn.Conv2d(2, 2, 1), nn.Conv2d(2, 2, 1), nn.Conv2d(2, 3, 1)

        def forward(self, x):
            y = self.a(x)
            y.add_(self.b(x))  # y now carries both a and b
            return self.c(y)

    got = blocks_by_name(network_from_module(InPlace(), input_shape=(2, 2, 2)))
    assert ("a", "c") in got and ("b", "c") in got


def test_a_module_called_twice_gets_a_group_per_call():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return self.fc(torch.relu(self.fc(x)))

    model = Tied()
    net = network_from_module(model)
    assert net.names == ("input", "fc", "fc#2")
    w = np.abs(model.fc.weight.detach().numpy()).T
    np.testing.assert_array_equal(blocks_by_name(net)[("fc", "fc#2")], w)


# -- pruning, training flags, forward arguments -----------------------------------------


def test_pruned_modules_give_their_masked_weights():
    torch.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 2 * 1, 2))
    plain = copy.deepcopy(model)
    prune.random_unstructured(model[0], "weight", amount=0.5)
    prune.random_unstructured(model[3], "weight", amount=0.5)
    with torch.no_grad():  # an optimizer step: module.weight is stale until the next forward
        model[0].weight_orig.mul_(2)
        plain[0].weight.copy_(model[0].weight_orig * model[0].weight_mask)
        plain[3].weight.copy_(model[3].weight_orig * model[3].weight_mask)
    got = blocks_by_name(network_from_module(model, input_shape=(2, 4, 3)))
    expected = blocks_by_name(network_from_module(plain, input_shape=(2, 4, 3)))
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-6)


def test_training_flags_are_restored_and_the_eval_path_is_traced():
    class TrainOnlyScale(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.drop = nn.Conv2d(2, 3, 1), nn.Dropout(0.5)
            self.conv2 = nn.Conv2d(3, 2, 1)

        def forward(self, x, twice=False):
            y = self.drop(self.conv1(x))
            if self.training:
                y = y * 10
            if twice:
                y = y * 2
            return self.conv2(y)

    model = TrainOnlyScale().train()
    model.drop.eval()
    got = blocks_by_name(network_from_module(model, input_shape=(2, 2, 2)))
    assert model.training and model.conv1.training and not model.drop.training
    np.testing.assert_allclose(got[("conv1", "conv2")], l1(model.conv2), rtol=1e-6)


# -- the MLP chain reader -------------------------------------------------------------


def mlps():
    torch.manual_seed(4)
    from modcore.nn import MLP

    seq = nn.Sequential(
        nn.Linear(6, 5), nn.ReLU(), nn.Dropout(0.5), nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3)
    )
    pruned = MLP([20, 16, 12, 10], dropout=0.5, seed=0)
    for layer in pruned:
        if isinstance(layer, nn.Linear):
            prune.l1_unstructured(layer, "weight", amount=0.6)
    flat = nn.Sequential(nn.Flatten(), nn.Linear(12, 7), nn.ReLU(), nn.Linear(7, 2))
    return [seq, MLP([20, 16, 12, 10], seed=1), pruned, flat]


@pytest.mark.parametrize("index", range(4))
def test_mlps_give_the_chain_reader_graph(index):
    model = mlps()[index]
    chain = Network.from_weights(weights_from_module(model))
    net = network_from_module(model)
    assert net.sizes == chain.sizes and net.is_chain
    for mine, theirs in zip(net.blocks, chain.blocks):
        assert mine.dense is not None
        np.testing.assert_array_equal(mine.dense, np.abs(theirs.dense))


# -- VGG- and ResNet-shaped models ----------------------------------------------------


VGG11 = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]


class VGG(nn.Module):
    def __init__(self, width=1.0, n_classes=10):
        super().__init__()
        layers, c_in = [], 3
        for v in VGG11:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                c = int(v * width)
                layers += [
                    nn.Conv2d(c_in, c, 3, padding=1),
                    nn.BatchNorm2d(c),
                    nn.ReLU(inplace=True),
                ]
                c_in = c
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(c_in, c_in), nn.ReLU(), nn.Dropout(), nn.Linear(c_in, n_classes)
        )

    def forward(self, x):
        return self.classifier(self.features(x))


class BasicBlock(nn.Module):
    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        out += identity
        return torch.relu(out)


class ResNet18(nn.Module):
    def __init__(self, width=64, n_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        c = width
        for i, mult in enumerate((1, 2, 4, 8), start=1):
            stride = 1 if i == 1 else 2
            setattr(
                self,
                f"layer{i}",
                nn.Sequential(
                    BasicBlock(c, width * mult, stride), BasicBlock(width * mult, width * mult, 1)
                ),
            )
            c = width * mult
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, n_classes)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def test_vgg11_shape_traces_with_one_group_per_conv_channel_set():
    model = VGG()
    # Full width is above the check's default budget: it warns and skips (checked below
    # at a small width, where the check runs).
    with pytest.warns(VerificationSkipped, match="verify=True"):
        net = network_from_module(model, input_shape=(3, 32, 32))
    small = network_from_module(VGG(width=1 / 16), input_shape=(3, 32, 32), verify=True)
    assert small.names == net.names
    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert net.names == ("input", *(n for n, _ in layers))
    assert net.sizes == (3, 64, 128, 256, 256, 512, 512, 512, 512, 512, 10)
    assert net.is_chain and net.is_bipartite
    paper = network_from_module(model, input_shape=(3, 32, 32), preset="paper_cnn")
    assert paper.sizes == (64, 128, 256, 256, 512, 512, 512, 512)


def resnet18_groups(width):
    names, sizes = ["input", "conv1"], [3, width]
    for i, mult in enumerate((1, 2, 4, 8), start=1):
        for b in range(2):
            names += [f"layer{i}.{b}.conv1", f"layer{i}.{b}.conv2"]
            sizes += [width * mult] * 2
            if i > 1 and b == 0:
                names.append(f"layer{i}.0.downsample.0")
                sizes.append(width * mult)
    return names + ["fc"], sizes + [10]


def test_resnet18_shape_traces_with_residual_blocks():
    model = ResNet18()
    with pytest.warns(VerificationSkipped, match="verify=True"):
        net = network_from_module(model, input_shape=(3, 32, 32))
    small = network_from_module(ResNet18(width=4), input_shape=(3, 16, 16), verify=True)
    assert small.names == net.names and small.sizes == tuple(resnet18_groups(4)[1])
    names, sizes = resnet18_groups(64)
    assert net.names == tuple(names) and net.sizes == tuple(sizes)
    assert not net.is_bipartite  # the projection shortcuts close odd cycles
    sources = {}
    for src, dst in blocks_by_name(net):
        sources.setdefault(dst, set()).add(src)
    # The residual stream: a block's input is the sum of every conv2 since the last projection.
    assert sources["layer1.1.conv1"] == {"layer1.0.conv2", "conv1"}
    assert sources["layer2.0.downsample.0"] == {"layer1.1.conv2", "layer1.0.conv2", "conv1"}
    assert sources["fc"] == {"layer4.1.conv2", "layer4.0.conv2", "layer4.0.downsample.0"}


# -- errors ---------------------------------------------------------------------------


class Wrap(nn.Module):
    def __init__(self, fn, **modules):
        super().__init__()
        self.fn = fn
        for name, m in modules.items():
            setattr(self, name, m)

    def forward(self, x):
        return self.fn(self, x)


@pytest.mark.parametrize(
    "model, shape, match",
    [
        (
            Wrap(lambda s, x: torch.matmul(s.fc(x), s.fc.weight), fc=nn.Linear(4, 4)),
            (4,),
            r"'matmul'.*function torch\.matmul",
        ),
        (
            Wrap(lambda s, x: torch.einsum("bf,gf->bg", s.fc(x), s.fc.weight), fc=nn.Linear(4, 4)),
            (4,),
            "einsum",
        ),
        (
            Wrap(
                lambda s, x: s.attn(x, x, x)[0], attn=nn.MultiheadAttention(4, 2, batch_first=True)
            ),
            (3, 4),
            "MultiheadAttention",
        ),
        (
            Wrap(lambda s, x: s.fc(s.conv(x)), conv=nn.Conv2d(2, 3, 1), fc=nn.Linear(4, 2)),
            (2, 4, 4),
            "applies a Linear to a 4-D tensor",
        ),
        (
            Wrap(
                lambda s, x: s.conv(s.fc(x).view(x.size(0), 2, 2, 2)),
                fc=nn.Linear(4, 8),
                conv=nn.Conv2d(2, 2, 1),
            ),
            (4,),
            r"'view' \(method \.view\(\)\), which leaves channel 0 .* several input channels",
        ),
        (
            Wrap(lambda s, x: s.conv(s.conv(x).permute(0, 3, 2, 1)), conv=nn.Conv2d(4, 4, 1)),
            (4, 4, 4),
            r"'permute' \(method \.permute\(\)\).*several input channels",
        ),
        (
            Wrap(
                lambda s, x: s.conv(x) * torch.sigmoid(s.conv(x).mean((2, 3), keepdim=True)),
                conv=nn.Conv2d(2, 2, 1),
            ),
            (2, 4, 4),
            "multiplies two tensors",
        ),
        (
            Wrap(lambda s, x: s.fc(s.ln(x)), ln=nn.LayerNorm(4), fc=nn.Linear(4, 2)),
            (4,),
            "LayerNorm",
        ),
        (Wrap(lambda s, x: s.fc(x).sum(1), fc=nn.Linear(4, 2)), (4,), "reduces over dims"),
        (
            Wrap(lambda s, x: torch.cat([s.conv(x), s.conv(x)], 0), conv=nn.Conv2d(2, 2, 1)),
            (2, 3, 3),
            "along the batch dim",
        ),
        (
            Wrap(lambda s, x: s.fc(torch.softmax(s.fc(x), 1)), fc=nn.Linear(4, 4)),
            (4,),
            r"'softmax'.*normalizes over dim 1",
        ),
        (
            Wrap(lambda s, x: s.conv(s.sm(s.conv(x))), conv=nn.Conv2d(2, 2, 1), sm=nn.Softmax2d()),
            (2, 3, 3),
            r"Softmax2d\): normalizes over dim -3",
        ),
    ],
)
def test_unsupported_ops_name_the_node_and_op(model, shape, match):
    with pytest.raises(ValueError, match=match):
        network_from_module(model, input_shape=shape)


def test_untraceable_control_flow_is_a_value_error():
    model = Wrap(lambda s, x: s.fc(x) if x.sum() > 0 else s.fc(-x), fc=nn.Linear(4, 2))
    with pytest.raises(ValueError, match=r"torch\.fx cannot trace.*control flow"):
        network_from_module(model, input_shape=(4,))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"kernel_norm": "l3"}, ValueError, "kernel_norm"),
        ({"preset": "vgg"}, ValueError, "preset"),
        ({"include_dense": "no"}, TypeError, "include_dense"),
        (
            {"input_shape": (1, 4, 4), "example_input": torch.zeros(1, 1, 4, 4)},
            ValueError,
            "not both",
        ),
        ({"input_shape": "1,4,4"}, TypeError, "input_shape"),
        ({"input_shape": (1, 0, 4)}, ValueError, "positive"),
        ({}, ValueError, "input_shape is needed"),
        ({"input_shape": (3, 4, 4)}, ValueError, "failed at node 'conv1'"),
        ({"example_input": torch.zeros(4)}, ValueError, "batch dim"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        network_from_module(HandCNN(), **kwargs)


def test_not_a_module_and_nothing_left():
    with pytest.raises(TypeError, match=r"torch\.nn\.Module"):
        network_from_module([np.ones((2, 2))])
    with pytest.raises(ValueError, match="no layer group left"):
        network_from_module(nn.Sequential(nn.Linear(3, 2)), include_dense=False)


def test_docstring_example_runs():
    result = doctest.testmod(trace, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


# -- end to end -----------------------------------------------------------------------


def folded_l1(conv, bn):
    """(in, out) l1 kernel-slice norms of a conv with the BatchNorm after it folded in."""
    return l1(conv) * np.abs(bn_scale(bn))[None, :]


def fc_block(linear):
    return np.abs(linear.weight.detach().numpy().astype(float)).T


def vgg_by_hand(model):
    """Groups and blocks of a VGG read off its modules: a chain of convs (their
    BatchNorms folded in; max pooling keeps channels) and the classifier, whose input
    is the last conv's channels at 32x32 (five poolings leave a 1x1 map)."""
    convs = [(n, m) for n, m in model.features.named_children() if isinstance(m, nn.Conv2d)]
    bns = [m for m in model.features if isinstance(m, nn.BatchNorm2d)]
    fcs = [(n, m) for n, m in model.classifier.named_children() if isinstance(m, nn.Linear)]
    groups = [("input", 3)]
    groups += [(f"features.{n}", m.out_channels) for n, m in convs]
    groups += [(f"classifier.{n}", m.out_features) for n, m in fcs]
    blocks = [folded_l1(m, bn) for (_, m), bn in zip(convs, bns)]
    blocks += [fc_block(m) for _, m in fcs]
    names = [name for name, _ in groups]
    return groups, list(zip(names[:-1], names[1:], blocks))


def resnet_by_hand(model):
    """Groups and blocks of ResNet18 read off its modules: each conv (BatchNorm folded
    in) reads the residual stream, the ReLU of the sum of every block output since the
    last projection shortcut; fc reads the stream through global average pooling."""
    blocks, stream = [], ["conv1"]

    def conv(name, sources, module, bn):
        blocks.extend((src, name, folded_l1(module, bn)) for src in sources)

    conv("conv1", ["input"], model.conv1, model.bn1)
    for i in range(1, 5):
        for b, block in enumerate(getattr(model, f"layer{i}")):
            name = f"layer{i}.{b}"
            conv(f"{name}.conv1", stream, block.conv1, block.bn1)
            conv(f"{name}.conv2", [f"{name}.conv1"], block.conv2, block.bn2)
            if block.downsample is None:
                stream = [*stream, f"{name}.conv2"]
            else:
                conv(f"{name}.downsample.0", stream, *block.downsample)
                stream = [f"{name}.conv2", f"{name}.downsample.0"]
    blocks.extend((src, "fc", fc_block(model.fc)) for src in stream)
    names, sizes = resnet18_groups(model.conv1.out_channels)
    return list(zip(names, sizes)), blocks


@pytest.mark.parametrize(
    "make, by_hand, solver",
    [
        (lambda: VGG(width=0.125), vgg_by_hand, "bipartite"),
        (lambda: ResNet18(width=8), resnet_by_hand, "full"),
    ],
)
def test_traced_models_go_through_ncut_significance(make, by_hand, solver):
    import modcore
    import oracles

    torch.manual_seed(5)
    model = make()
    gen = torch.Generator().manual_seed(5)
    for bn in model.modules():
        if isinstance(bn, nn.BatchNorm2d):
            randomize_bn(bn, gen)
    sig = modcore.ncut_significance(
        model,
        input_shape=(3, 32, 32),
        n_clusters=6,
        n_shuffles=20,
        seed=0,
        n_jobs=1,
        progress=False,
    )
    # The n-cut of the returned labels on the graph built by hand from the weights (in
    # float64; the tracer folds BatchNorm in float32, hence the tolerance).
    groups, blocks = by_hand(model)
    assert sig.clustering.group_names == tuple(name for name, _ in groups)
    assert sig.clustering.eigen_method == solver
    assert [len(lab) for lab in sig.labels] == [size for _, size in groups]
    assert sig.ncut == pytest.approx(
        oracles.ncut(oracles.block_adjacency(groups, blocks), np.concatenate(sig.labels)),
        rel=1e-6,
    )
    assert sig.shuffled_ncuts.shape == (20,)
    # Tracing inside ncut_significance is the same as passing the traced Network.
    net = network_from_module(model, input_shape=(3, 32, 32))
    again = modcore.ncut_significance(
        net, n_clusters=6, n_shuffles=20, seed=0, n_jobs=1, progress=False
    )
    assert again.ncut == sig.ncut
    np.testing.assert_array_equal(again.shuffled_ncuts, sig.shuffled_ncuts)
