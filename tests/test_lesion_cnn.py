"""Lesions of convolution channels (modcore.nn.lesion on CNNs): where a channel is
silenced, against hand-written oracles; the study on a CNN; groups that cannot be hooked."""

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn

import modcore
from modcore.network.torch.trace import network_from_module
from modcore.nn import CNN
from modcore.nn.lesion import (
    lesion_accuracy,
    lesion_study,
    lesion_units,
    lesioned,
)

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def counts(model, x, y, n_classes):
    """Oracle: correct predictions per class of a plain forward pass (numpy bincount)."""
    model.eval()
    with torch.no_grad():
        pred = model(x).argmax(dim=1).numpy()
    right = pred == y.numpy()
    return np.bincount(y.numpy()[right], minlength=n_classes)


def labelled(model, x, noise=1.0, seed=0):
    """Labels: the model's predictions with noise of ``noise`` times the outputs' std
    added first (about half right at 1), so that lesions change the accuracy."""
    g = torch.Generator().manual_seed(seed)
    model.eval()
    with torch.no_grad():
        out = model(x)
    return (out + noise * out.std() * torch.randn(out.shape, generator=g)).argmax(dim=1)


def centre(model, head, x):
    """Set the output layer's bias so that each logit averages 0 over x: varied predictions."""
    model.eval()
    with torch.no_grad():
        head.bias.copy_(-(model(x) - head.bias).mean(dim=0))


def per_class(correct, y, n_classes):
    """Per-class accuracy from an oracle's counts (the same division the code makes)."""
    return correct / np.bincount(y.numpy(), minlength=n_classes)


# ------------------------------------------------------------------ the paper's CNN shape


@pytest.fixture(scope="module")
def small_cnn():
    # conv(1->6) relu | conv(6->5) relu maxpool | flatten | linear(80->7) relu | linear(7->4)
    model = CNN(
        (1, 8, 8), channels=(6, 5), pool_after=(False, True), dense=(7,), n_classes=4, seed=0
    )
    with torch.no_grad():  # pruned-like: exact zeros
        for layer in (model[0], model[2], model[6]):
            layer.weight.mul_(
                torch.rand(layer.weight.shape, generator=torch.Generator().manual_seed(1)) > 0.3
            )
    x = torch.rand(400, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    return model, x, labelled(model, x)


def cnn_zeroed(model, lesion):
    """Oracle: a copy whose next layers have the lesioned channels' / neurons' inputs zeroed."""
    twin = copy.deepcopy(model)
    with torch.no_grad():
        for group, units in lesion.items():
            if group == 1:  # conv 0's channels are read by conv 2
                twin[2].weight[:, units] = 0
            elif group == 2:  # conv 2's channels reach Linear 6 through the flatten, 4x4 each
                twin[6].weight.view(7, 5, 4, 4)[:, units] = 0
            else:  # Linear 6's neurons are read by Linear 8
                twin[8].weight[:, units] = 0
    return twin


CNN_LESIONS = [
    {1: [0, 2]},
    {1: [5]},
    {2: [1]},
    {2: [0, 3, 4]},
    {3: [0, 1, 2]},
    {1: [3], 2: [0, 4]},
    {1: [1], 3: [6]},
    {2: [2], 3: [3, 5]},
    {1: [0], 2: [1], 3: [2]},
]


def test_groups_and_where_they_are_silenced(small_cnn):
    model, _, _ = small_cnn
    units = lesion_units(model)
    assert units.names == ("input", "0", "2", "6", "8")
    assert units.sizes == (1, 6, 5, 7, 4)
    assert units.hidden == (1, 2, 3)  # not the input, not the logits
    # After the ReLU (and the max-pooling), where the next layer reads the channels.
    assert units.emitter_names == {1: "1", 2: "4", 3: "7"}
    assert [units.noun(g) for g in (1, 2, 3)] == ["channels", "channels", "neurons"]
    assert units.names == network_from_module(model, input_shape=(1, 8, 8)).names


def test_channel_lesions_equal_zeroed_copies(small_cnn):
    model, x, y = small_cnn
    batched = lesion_accuracy(model, (x, y), CNN_LESIONS, per_class=True)
    oracle = np.array([counts(cnn_zeroed(model, les), x, y, 4) for les in CNN_LESIONS])
    assert np.array_equal(batched, per_class(oracle, y, 4))  # per class, exactly
    overall = lesion_accuracy(model, (x, y), CNN_LESIONS)
    assert overall.tolist() == (oracle.sum(axis=1) / len(y)).tolist()
    assert len(set(oracle.sum(axis=1).tolist())) > 4  # the lesions do change things
    for les, expected in zip(CNN_LESIONS, oracle):
        with lesioned(model, les):
            assert np.array_equal(counts(model, x, y, 4), expected)
    assert all(not m._forward_hooks for m in model.modules())


def test_batchnorm_channels_are_silenced_after_bn_and_relu():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Conv2d(4, 3, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(3, 3),
    )
    bn = model[1]
    with torch.no_grad():  # running statistics that make the BN shift matter
        bn.running_mean.copy_(torch.tensor([0.5, -0.3, 0.2, -0.6]))
        bn.running_var.copy_(torch.tensor([0.5, 2.0, 1.5, 0.8]))
        bn.weight.copy_(torch.tensor([1.5, -0.7, 1.0, 0.9]))
        bn.bias.copy_(torch.tensor([0.4, 0.3, -0.2, 0.6]))
    x = torch.randn(300, 2, 5, 5, generator=torch.Generator().manual_seed(3))
    centre(model, model[7], x)
    y = labelled(model, x, noise=0.5)
    units = lesion_units(model, input_shape=(2, 5, 5))
    assert units.emitter_names[1] == "2"  # the ReLU after the BatchNorm
    lesion = {1: [1, 3]}
    outgoing = copy.deepcopy(model)
    with torch.no_grad():
        outgoing[3].weight[:, [1, 3]] = 0
    expected = counts(outgoing, x, y, 3)
    got = lesion_accuracy(model, (x, y), lesion, per_class=True)
    assert np.array_equal(got, per_class(expected, y, 3))
    assert expected.sum() < len(y)  # the lesion changes predictions
    # Zeroing the conv's own output channels (weights and bias) is not a lesion here:
    # the BatchNorm adds its shift back, and the ReLU passes it on.
    incoming = copy.deepcopy(model)
    with torch.no_grad():
        incoming[0].weight[[1, 3]] = 0
        incoming[0].bias[[1, 3]] = 0
        h = incoming[:3](x)
    assert h[:, 3].abs().min() > 0.1  # channel 3 still sends a constant
    assert not np.array_equal(counts(incoming, x, y, 3), expected)


class Residual(nn.Module):
    """conv -> relu -> conv -> relu, plus a skip from the first relu; not a Sequential."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool = nn.AdaptiveMaxPool2d(2)
        self.flat = nn.Flatten()
        self.fc = nn.Linear(16, 3)

    def forward(self, x):
        h = self.relu1(self.conv1(x))
        return self.fc(self.flat(self.pool(self.relu2(self.conv2(h)) + h)))


def residual_by_hand(model, x, lesion):
    """Oracle: the forward pass written out, with the lesioned channels zeroed."""
    with torch.no_grad():
        h = torch.relu(model.conv1(x))
        h[:, lesion.get(1, [])] = 0
        k = torch.relu(model.conv2(h))
        k[:, lesion.get(2, [])] = 0
        return model.fc(torch.flatten(nn.functional.adaptive_max_pool2d(k + h, 2), 1))


def test_residual_model_silences_both_paths():
    torch.manual_seed(1)
    model = Residual().eval()
    x = torch.randn(300, 1, 6, 6, generator=torch.Generator().manual_seed(4))
    centre(model, model.fc, x)
    y = labelled(model, x, noise=0.5)
    lesions = [{1: [0]}, {1: [1, 2]}, {2: [3]}, {1: [2], 2: [0, 1]}]
    got = lesion_accuracy(model, (x, y), lesions)
    oracle = [
        (residual_by_hand(model, x, les).argmax(1) == y).float().sum().item() / len(y)
        for les in lesions
    ]
    assert got.tolist() == oracle
    assert len(set(oracle)) > 2


def test_groups_that_cannot_be_hooked_are_named():
    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 3, 3)
            self.fc1, self.relu, self.fc2 = nn.Linear(3 * 4 * 4, 5), nn.ReLU(), nn.Linear(5, 2)

        def forward(self, x):
            return self.fc2(self.relu(self.fc1(torch.flatten(torch.relu(self.conv(x)), 1))))

    units = lesion_units(Functional(), input_shape=(1, 6, 6))
    assert units.hidden == (2,) and units.emitter_names == {2: "relu"}
    with pytest.raises(
        ValueError,
        match=r"layer 1 \(conv\) leaves its layer through "
        r"call_function relu.*nn.ReLU rather than F.relu",
    ):
        units.check_group(1)

    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 5), nn.Linear(5, 5)
            self.relu = nn.ReLU()
            self.out = nn.Linear(5, 2)

        def forward(self, x):
            return self.out(self.relu(self.b(self.relu(self.a(x)))))

    model = Shared()
    x, y = torch.rand(20, 4), torch.zeros(20, dtype=torch.long)
    with pytest.raises(ValueError, match="module 'relu', called 2 times"):
        lesion_accuracy(model, (x, y), {1: [0]})
    with pytest.raises(ValueError, match="no group that lesions can silence"):
        lesion_study(model, (x, y), n_clusters=2, progress=False)


def test_study_on_a_cnn_with_the_paper_preset(small_cnn):
    model, x, y = small_cnn
    network = network_from_module(model, input_shape=(1, 8, 8), preset="paper_cnn")
    clustering = modcore.spectral_cluster(network, n_clusters=2, seed=0)
    study = lesion_study(
        model,
        (x, y),
        clustering=clustering,
        random_lesions=4,
        seed=0,
        min_drop=0.0,
        progress=False,
        pair_set="all",
    )
    # Only the clustered groups (conv channels) have sub-modules.
    assert {s.layer for s in study.single} == {1, 2}
    assert study.group_names == ["input", "0", "2", "6", "8"]
    assert study.unit_kinds[1:3] == ["channels", "channels"]
    assert [lab.tolist() for lab in study.labels[3:]] == [[-1] * 7, [-1] * 4]
    base = counts(model, x, y, 4)
    assert study.base_accuracy == base.sum() / len(y)
    for s in study.single:
        expected = counts(cnn_zeroed(model, {s.layer: s.neurons}), x, y, 4)
        assert np.array_equal(s.class_accuracy, per_class(expected, y, 4))
        rand = counts(cnn_zeroed(model, {s.layer: s.random_neurons[0]}), x, y, 4)
        assert np.array_equal(s.random_class_accuracy[0], per_class(rand, y, 4))
    for p in study.pairs:  # every pair in different layers
        a, b = study.single[p.a], study.single[p.b]
        joint = counts(cnn_zeroed(model, {a.layer: a.neurons, b.layer: b.neurons}), x, y, 4)
        assert np.array_equal(p.class_accuracy, per_class(joint, y, 4))
    assert len(study.pairs) == sum(
        1 for a in study.single for b in study.single if a.layer < b.layer
    )
    # The same study with the preset passed instead of a clustering.
    again = lesion_study(
        model,
        (x, y),
        n_clusters=2,
        preset="paper_cnn",
        random_lesions=4,
        seed=0,
        min_drop=0.0,
        progress=False,
        pair_set="all",
    )
    assert [s.name for s in again.single] == [s.name for s in study.single]
    assert [s.drop for s in again.single] == [s.drop for s in study.single]


def test_cnn_data_of_the_wrong_shape(small_cnn):
    model, x, y = small_cnn
    with pytest.raises(
        ValueError,
        match=r"inputs of shape \(64,\) but the network takes "
        r"\(1, 8, 8\).*flatten=False",
    ):
        lesion_accuracy(model, (x.reshape(len(x), -1), y), {1: [0]})
    with pytest.raises(ValueError, match="has 6 channels"):
        lesion_accuracy(model, (x, y), {1: [6]})
    with pytest.raises(ValueError, match="no group named 'fc'"):
        lesion_accuracy(model, (x, y), {"fc": [0]})
    assert lesion_accuracy(model, (x, y), {"2": [1]}) == lesion_accuracy(model, (x, y), {2: [1]})
