"""Clusterable initialization: the authors' rule (src/train_nn.py, create_model), checked
entry by entry with loops written here, on MLPs and CNNs."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn

from modcore import spectral_cluster
from modcore.nn import CNN, MLP, clusterable_init, weight_layers

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _weights(model):
    return [layer.weight.detach().clone().numpy() for layer in weight_layers(model)]


def _expected_factor(same, n_modules, down):
    # The authors' numbers: 0.6 (MLP) or 0.8 (CNN) between modules, and
    # 1 + (1 - down) * (M - 1) inside one.
    return 1 + (1 - down) * (n_modules - 1) if same else down


@pytest.mark.parametrize("n_out, n_modules", [(4, 5), (7, 3)])
def test_mlp_rule_entry_by_entry(n_out, n_modules):
    model = MLP([9, 8, 6, n_out], seed=1)
    before = _weights(model)
    assign = clusterable_init(model, n_modules, seed=3)
    after = _weights(model)
    assert [len(a) for a in assign] == [9, 8, 6, n_out]
    assert all(((a >= 0) & (a < n_modules)).all() for a in assign)
    if n_out <= n_modules:  # output i is module i
        assert assign[-1].tolist() == list(range(n_out))
    np.testing.assert_array_equal(after[0], before[0])  # the first layer is left alone
    for layer in (1, 2):
        src, dst = assign[layer], assign[layer + 1]
        w0, w1 = before[layer], after[layer]
        for o in range(w0.shape[0]):
            for i in range(w0.shape[1]):
                factor = _expected_factor(dst[o] == src[i], n_modules, 0.6)
                assert w1[o, i] == pytest.approx(w0[o, i] * factor, rel=1e-6)


def test_factors_average_one():
    # Inside one of M modules with probability 1/M: the mean multiplier is 1 (by hand).
    for m in (2, 5, 10):
        for down in (0.6, 0.8):
            up = _expected_factor(True, m, down)
            assert up / m + down * (m - 1) / m == pytest.approx(1.0)


def test_cnn_rule_scales_kernel_slices_of_later_convolutions():
    model = CNN((1, 8, 8), n_classes=3, channels=(4, 5, 6), dense=(7,), seed=0)
    before = _weights(model)
    assign = clusterable_init(model, 3, seed=2)
    after = _weights(model)
    assert [len(a) for a in assign] == [4, 5, 6]
    np.testing.assert_array_equal(after[0], before[0])
    for conv in (1, 2):
        src, dst = assign[conv - 1], assign[conv]
        for o in range(after[conv].shape[0]):
            for i in range(after[conv].shape[1]):
                factor = _expected_factor(dst[o] == src[i], 3, 0.8)
                np.testing.assert_allclose(
                    after[conv][o, i], before[conv][o, i] * factor, rtol=1e-6
                )
    for dense in (3, 4):  # the Linear layers of a CNN are left alone
        np.testing.assert_array_equal(after[dense], before[dense])


def test_same_seed_same_init_and_other_seed_other_modules():
    a, b, c = (MLP([6, 8, 8, 3], seed=0) for _ in range(3))
    ma, mb = clusterable_init(a, 4, seed=7), clusterable_init(b, 4, seed=7)
    mc = clusterable_init(c, 4, seed=8)
    for x, y in zip(_weights(a), _weights(b)):
        np.testing.assert_array_equal(x, y)
    assert all((x == y).all() for x, y in zip(ma, mb))
    assert any((x != y).any() for x, y in zip(ma, mc))


def test_planted_modules_lower_the_ncut():
    # Of a wide net with strongly planted modules, the clustering finds lower n-cut
    # than of the same net initialised plainly.
    plain = MLP([20, 60, 60, 60, 4], seed=0)
    planted = MLP([20, 60, 60, 60, 4], seed=0)
    clusterable_init(planted, 4, seed=0)
    hidden = lambda m: [w.T for w in _weights(m)[1:3]]  # noqa: E731  the scaled layers
    assert (
        spectral_cluster(hidden(planted), n_clusters=4).ncut
        < spectral_cluster(hidden(plain), n_clusters=4).ncut
    )


class _Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(4, 5), nn.Linear(5, 5), nn.Linear(5, 2)

    def forward(self, x):
        h = self.a(x)
        return self.c(self.b(h) + h)


def test_refuses_what_is_not_a_chain_and_bad_counts():
    with pytest.raises(ValueError, match="does not read the units of 'b' alone"):
        clusterable_init(_Residual(), 2, seed=0)
    with pytest.raises(ValueError, match="n_modules must be >= 2"):
        clusterable_init(MLP([4, 3, 2]), 1)
    with pytest.raises(TypeError, match="n_modules must be an int"):
        clusterable_init(MLP([4, 3, 2]), 2.5)
    grouped = nn.Sequential(nn.Conv2d(2, 4, 3), nn.Conv2d(4, 4, 3, groups=2))
    with pytest.raises(ValueError, match="grouped convolution"):
        clusterable_init(grouped, 2, input_shape=(2, 8, 8))


@pytest.mark.parametrize(
    "model, n_modules, message",
    [
        (MLP([784, 12, 12, 10]), 100000, "hidden layer 1 has 12 units"),
        (MLP([9, 8, 6, 4]), 7, "hidden layer 2 has 6 units"),
        (CNN((1, 8, 8), n_classes=3, channels=(4, 5), pool_after=(False, True)), 5, "has 4 chan"),
        (MLP([5, 3]), 2, "one Linear layer"),
    ],
)
def test_refuses_modules_the_layers_cannot_hold_before_tracing(
    monkeypatch, model, n_modules, message
):
    import modcore.network.torch.trace as trace

    def traced(*args, **kwargs):
        raise AssertionError("traced before the count was checked")

    monkeypatch.setattr(trace, "network_from_module", traced)
    before = _weights(model)
    with pytest.raises(ValueError, match=message):
        clusterable_init(model, n_modules, seed=0)
    for a, b in zip(before, _weights(model)):
        np.testing.assert_array_equal(a, b)


def test_as_many_modules_as_the_narrowest_layer_is_accepted():
    assert len(clusterable_init(MLP([9, 8, 6, 4], seed=0), 6, seed=0)) == 4
