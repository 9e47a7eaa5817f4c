"""Lesion tests (modcore.nn.lesion): hooks, batching, random lesions, importance."""

import copy
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from modcore.nn import MLP, weight_layers
from modcore.nn.lesion import (
    lesion_accuracy,
    lesion_study,
    lesioned,
    random_lesions,
    sub_modules,
)

pytestmark = pytest.mark.usefixtures("torch_one_thread")


# ------------------------------------------------------------------ a hand-built network
#
# 6 inputs, x ~ U(0, 1), label = [x0 > 0.5]. Hidden layers of 16 neurons in four
# blocks of 4 (modules 0..3):
#   layer 1 block 0 ("signal"): each neuron relu(x0 - 0.5); any one of them is enough.
#   layer 1 block 1 ("dead"):   reads x1..x5 but its outgoing weights are 0.
#   layer 1 blocks 2, 3:        read x1..x5, feed layer 2's blocks 2, 3, which go nowhere.
#   layer 2 block 0 ("signal"): each neuron relu(sum of layer 1 block 0).
#   layer 2 block 1 ("dead"):   reads layer 1 block 2, outgoing weights 0.
#   output: logit 1 = sum of layer 2 block 0, logit 0 = a small constant.
# Lesioning a signal block sends accuracy to ~0.5; no other block matters.

EPS = 1e-3


def hand_built():
    model = MLP([6, 16, 16, 2])
    l1, l2, l3 = weight_layers(model)
    with torch.no_grad():
        for lin in (l1, l2, l3):
            lin.weight.zero_()
            lin.bias.zero_()
        l1.weight[0:4, 0] = 1.0
        l1.bias[0:4] = -0.5
        l1.weight[4:16, 1:6] = 0.3  # blocks 1..3 read the distractor inputs
        l2.weight[0:4, 0:4] = 1.0
        l2.weight[4:8, 8:12] = 0.5  # layer 2 block 1 reads layer 1 block 2
        l2.weight[8:12, 8:12] = 0.5
        l2.weight[12:16, 12:16] = 0.5
        l3.weight[1, 0:4] = 1.0
        l3.bias[0] = EPS
    labels = [
        np.array([0, 2, 2, 3, 3, 3]),
        np.repeat(np.arange(4), 4),
        np.repeat(np.arange(4), 4),
        np.array([0, 0]),
    ]
    return model, labels


def hand_data(n=2000, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 6, generator=g)
    return x, (x[:, 0] > 0.5).long()


@pytest.fixture(scope="module")
def hand_study():
    model, labels = hand_built()
    return lesion_study(
        model, hand_data(), random_lesions=50, seed=0, clustering=labels, progress=False
    )


def test_hand_built_signal_block_is_important_dead_block_is_not(hand_study):
    study = hand_study
    assert study.base_accuracy > 0.99
    by_name = {s.name: s for s in study.single}
    assert len(by_name) == 8  # 4 blocks x 2 hidden layers, none empty
    for name in ("L1M0", "L2M0"):
        s = by_name[name]
        assert s.drop > 0.4 and s.tested and s.important
        assert s.p_value == pytest.approx(1 / 51)
        assert s.z_score > 3
    for name in ("L1M1", "L1M2", "L1M3", "L2M1", "L2M2", "L2M3"):
        s = by_name[name]
        assert s.drop == 0.0 and not s.tested and not s.important
        assert s.p_value == 1.0  # every random drop (>= 0) ties or beats 0
    assert [s.name for s in study.important] == ["L1M0", "L2M0"]
    assert study.n_tested == 2 and study.threshold == pytest.approx(0.025)
    # 1 / 51 < 0.025 already: no top-up.
    assert study.max_random_lesions == 50
    assert all(s.n_random == 50 for s in study.single)


def test_hand_built_double_lesion_is_subadditive(hand_study):
    (pair,) = hand_study.pairs
    assert (pair.name_a, pair.name_b) == ("L1M0", "L2M0")
    single = {s.name: s for s in hand_study.single}
    # Both blocks sit on the one path: killing both does no more than killing one.
    assert pair.joint_drop == pytest.approx(single["L1M0"].drop)
    assert pair.interaction == pytest.approx(pair.joint_drop - pair.additive)
    assert pair.interaction < -0.4
    assert pair.interaction_z < -3 and pair.interaction_p < 0.05
    assert len(pair.random_joint_drops) == 50
    dep = hand_study.dependency
    assert dep.shape == (2, 2) and np.isnan(dep[0, 0]) and dep[0, 1] == dep[1, 0]
    assert dep[0, 1] == pytest.approx(pair.interaction)
    assert hand_study.dependency_index == [0, 4]
    # L1M0 feeds L2M0 and nothing else: neither adds damage once the other is lesioned.
    assert pair.a_given_b == pytest.approx(0.0) and pair.b_given_a < 0.01
    assert pair.dependency_type == "I"


def test_top_up_reaches_bonferroni_resolution():
    model, labels = hand_built()
    study = lesion_study(
        model,
        hand_data(500),
        random_lesions=20,
        seed=1,
        clustering=labels,
        alpha=0.01,
        progress=False,
        double=False,
    )
    # m = 2 tested at alpha 0.01: 1 / (R + 1) < 0.005 needs R >= 200.
    assert study.max_random_lesions == 200
    n_random = {s.name: s.n_random for s in study.single}
    assert n_random["L1M0"] == n_random["L2M0"] == 200
    assert {n for name, n in n_random.items() if name not in ("L1M0", "L2M0")} == {20}
    assert [s.name for s in study.important] == ["L1M0", "L2M0"]
    for s in study.important:
        assert s.p_value == pytest.approx(1 / 201)
        assert s.random_neurons.shape == (200, 4)
    with pytest.warns(UserWarning, match="cannot give a p-value"):
        fixed = lesion_study(
            model,
            hand_data(500),
            random_lesions=20,
            seed=1,
            clustering=labels,
            alpha=0.01,
            adaptive=False,
            progress=False,
            double=False,
        )
    assert fixed.important == [] and fixed.n_tested == 2


# ------------------------------------------------------------------ hooks are exact


def zeroed_copy(model, lesion):
    """The oracle: a deep copy whose Linear layers have the lesioned input columns zeroed."""
    twin = copy.deepcopy(model)
    linears = weight_layers(twin)
    with torch.no_grad():
        for layer, neurons in lesion.items():
            linears[layer].weight[:, torch.as_tensor(neurons)] = 0
    return twin


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        return int((model(x).argmax(dim=1) == y).sum()) / len(y)


def class_accuracy(model, x, y):
    """Oracle: accuracy on each class's examples, from a plain forward pass."""
    model.eval()
    with torch.no_grad():
        right = (model(x).argmax(dim=1) == y).numpy()
    return np.array([right[y.numpy() == c].mean() for c in range(int(y.max()) + 1)])


@pytest.fixture(scope="module")
def random_net():
    torch.manual_seed(0)
    model = MLP([20, 32, 24, 16, 5], dropout=0.5, seed=3)
    with torch.no_grad():  # pruned-like: many exact zeros
        for lin in weight_layers(model):
            lin.weight.mul_((torch.rand(lin.weight.shape) > 0.5).float() * 3)
    x = torch.randn(600, 20)
    with torch.no_grad():
        y = (model.eval()(x) + 0.5 * torch.randn(600, 5)).argmax(dim=1)  # ~ half right
    return model, x, y


LESIONS = [
    {1: [0, 5, 7]},
    {1: list(range(16))},
    {2: [3]},
    {3: [0, 1, 2, 3, 15]},
    {1: [2, 4], 3: [9]},
    {1: [1], 2: [0, 23], 3: [4, 5, 6]},
]


def test_hook_lesion_equals_zeroed_copy(random_net):
    model, x, y = random_net
    model.train()  # lesion_accuracy evaluates in eval mode and restores the mode
    base = accuracy(copy.deepcopy(model), x, y)
    model.train()
    batched = lesion_accuracy(model, (x, y), LESIONS)
    assert model.training
    oracle = [accuracy(zeroed_copy(model, les), x, y) for les in LESIONS]
    assert batched.tolist() == oracle  # exactly, batched
    for les, expected in zip(LESIONS, oracle):
        assert lesion_accuracy(model, (x, y), les) == expected  # exactly, one at a time
        model.eval()
        with lesioned(model, les):
            assert accuracy(model, x, y) == expected  # the public context manager
    assert len(set(oracle)) > 2 and base not in oracle[:2]  # the lesions do change things
    # Hooks are gone afterwards.
    assert accuracy(model, x, y) == base
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_study_drops_equal_zeroed_copies(random_net):
    model, x, y = random_net
    labels = [
        np.zeros(20, int),
        np.arange(32) % 3,
        np.arange(24) % 4,
        np.arange(16) % 2,
        np.zeros(5, int),
    ]
    study = lesion_study(
        model,
        (x, y),
        random_lesions=4,
        seed=0,
        clustering=labels,
        min_drop=0.0,
        progress=False,
        double=False,
    )
    base = accuracy(copy.deepcopy(model), x, y)
    assert study.base_accuracy == base
    assert np.array_equal(study.base_class_accuracy, class_accuracy(copy.deepcopy(model), x, y))
    for s in study.single:
        les = {s.layer: s.neurons}
        assert s.accuracy == accuracy(zeroed_copy(model, les), x, y)
        assert np.array_equal(s.class_accuracy, class_accuracy(zeroed_copy(model, les), x, y))
        for k in (0, len(s.random_neurons) - 1):
            twin = zeroed_copy(model, {s.layer: s.random_neurons[k]})
            assert s.random_drops[k] == pytest.approx(base - accuracy(twin, x, y), abs=1e-12)
            assert np.array_equal(s.random_class_accuracy[k], class_accuracy(twin, x, y))
    # Pairs: every pair in different layers, joint lesions against zeroed copies.
    pairs = lesion_study(
        model,
        (x, y),
        random_lesions=3,
        seed=0,
        clustering=labels,
        min_drop=0.0,
        progress=False,
        pair_set="all",
    )
    assert len(pairs.pairs) == 3 * 4 + 3 * 2 + 4 * 2
    for p in pairs.pairs[::5]:
        a, b = pairs.single[p.a], pairs.single[p.b]
        twin = zeroed_copy(model, {a.layer: a.neurons, b.layer: b.neurons})
        assert p.joint_drop == pytest.approx(base - accuracy(twin, x, y), abs=1e-12)
        assert np.array_equal(p.class_accuracy, class_accuracy(twin, x, y))
        twin = zeroed_copy(model, {a.layer: a.random_neurons[1], b.layer: b.random_neurons[1]})
        assert np.array_equal(p.random_class_accuracy[1], class_accuracy(twin, x, y))
        twin = zeroed_copy(model, {a.layer: a.neurons, b.layer: b.random_neurons[2]})
        assert p.b_given_a_random[2] == pytest.approx(
            base - accuracy(twin, x, y) - a.drop, abs=1e-12
        )


def test_progress_line(random_net, capsys):
    model, x, y = random_net
    lesion_accuracy(model, (x, y), LESIONS, progress=True)
    assert "6/6 lesions" in capsys.readouterr().err


def test_non_sequential_model_uses_full_forward(random_net):
    model, x, y = random_net

    class Wrapped(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, inputs):
            return self.inner(inputs)

    wrapped = Wrapped(model)
    assert (
        lesion_accuracy(wrapped, (x, y), LESIONS).tolist()
        == lesion_accuracy(model, (x, y), LESIONS).tolist()
    )


# ------------------------------------------------------------------ random lesions, seeds


def test_random_lesions_sizes_layers_and_pool():
    labels = [np.zeros(4, int), np.array([0, -1, 1, 1, -1, 2, 2, 2]), np.zeros(3, int)]
    live = {0, 2, 3, 5, 6, 7}
    rows = random_lesions(labels, layer=1, size=3, n=200, seed=0)
    assert rows.shape == (200, 3) and rows.dtype.kind == "i"
    assert all(len(set(r)) == 3 and set(r) <= live for r in rows.tolist())
    assert (np.diff(rows, axis=1) > 0).all()  # sorted, distinct
    assert set(rows.ravel().tolist()) == live  # every live neuron gets drawn
    assert np.array_equal(rows, random_lesions(labels, 1, 3, 200, seed=0))
    assert not np.array_equal(rows, random_lesions(labels, 1, 3, 200, seed=1))
    whole = random_lesions(labels, 1, 6, 2, seed=0)
    assert whole.tolist() == [sorted(live)] * 2


def test_study_random_lesions_match_their_sub_module(hand_study):
    for s in hand_study.single:
        assert s.random_neurons.shape == (s.n_random, s.size)
        assert all(len(set(row)) == s.size for row in s.random_neurons.tolist())
        assert s.random_neurons.max() < hand_study.layer_sizes[s.layer]
        assert len(s.random_drops) == s.n_random


def test_same_seed_same_study(random_net):
    model, x, y = random_net
    kwargs = dict(n_clusters=3, random_lesions=6, min_drop=0.0, progress=False)
    a = lesion_study(model, (x, y), seed=5, **kwargs).to_dict()
    b = lesion_study(model, (x, y), seed=5, **kwargs).to_dict()
    c = lesion_study(model, (x, y), seed=6, **kwargs).to_dict()
    for d in (a, b, c):
        del d["seconds"]
    assert a == b
    assert a != c
    json.dumps(a)  # plain values only


def test_sub_modules_skip_empty_and_dead():
    labels = [np.zeros(2, int), np.array([3, 3, -1, 0]), np.array([-1, -1]), np.zeros(1, int)]
    subs = sub_modules(labels)
    assert [(s.layer, s.module, s.neurons.tolist()) for s in subs] == [(1, 0, [3]), (1, 3, [0, 1])]


# ------------------------------------------------------------------ bad input


def test_bad_lesions_give_clear_errors(random_net):
    model, x, y = random_net
    data = (x, y)
    with pytest.raises(ValueError, match=r"not a hidden layer.*1\.\.3"):
        lesion_accuracy(model, data, {4: [0]})
    with pytest.raises(ValueError, match="not a hidden layer"):
        lesion_accuracy(model, data, {0: [0]})
    with pytest.raises(ValueError, match="empty lesion"):
        lesion_accuracy(model, data, {1: []})
    with pytest.raises(ValueError, match="empty lesion"):
        lesion_accuracy(model, data, {})
    with pytest.raises(ValueError, match="no lesions"):
        lesion_accuracy(model, data, [])
    with pytest.raises(ValueError, match="has 24 neurons"):
        lesion_accuracy(model, data, {2: [24]})
    with pytest.raises(TypeError, match="integers"):
        lesion_accuracy(model, data, {2: [0.5]})
    with pytest.raises(TypeError, match="mapping"):
        lesion_accuracy(model, data, [[1, 2]])
    with pytest.raises(ValueError, match="empty lesion"):
        with lesioned(model, {2: []}):
            pass


def test_bad_study_inputs_give_clear_errors(random_net):
    model, x, y = random_net
    labels = [
        np.zeros(20, int),
        np.zeros(32, int),
        np.zeros(24, int),
        np.zeros(16, int),
        np.zeros(5, int),
    ]
    with pytest.raises(ValueError, match="labels has 3 layers but the network has 5"):
        lesion_study(model, (x, y), clustering=labels[:3], progress=False)
    with pytest.raises(ValueError, match=r"labels\[2\] must be 24 integers"):
        lesion_study(
            model, (x, y), clustering=labels[:2] + [np.zeros(7, int)] + labels[3:], progress=False
        )
    with pytest.raises(ValueError, match="no hidden unit"):
        lesion_study(model, (x, y), clustering=[lab - 1 for lab in labels], progress=False)
    with pytest.raises(ValueError, match="random_lesions must be >= 1"):
        lesion_study(model, (x, y), random_lesions=0, clustering=labels, progress=False)
    with pytest.raises(ValueError, match="19 features but the network takes 20"):
        lesion_study(model, (x[:, :19], y), clustering=labels, progress=False)
    with pytest.raises(ValueError, match=r"labels must be in 0\.\.4"):
        lesion_study(model, (x, y + 5), clustering=labels, progress=False)
    nan = x.clone()
    nan[3, 4] = float("nan")
    with pytest.raises(ValueError, match="1 of the inputs are NaN or infinite"):
        lesion_study(model, (nan, y), clustering=labels, progress=False)
    with pytest.raises(ValueError, match="whole numbers"):
        lesion_study(model, (x, y + 0.5), clustering=labels, progress=False)
    with pytest.raises(ValueError, match="min_drop"):
        lesion_study(model, (x, y), min_drop=5, clustering=labels, progress=False)
    with pytest.raises(ValueError, match="at least 2"):
        lesion_study(torch.nn.Linear(20, 5), (x, y), progress=False)
    with pytest.raises(TypeError, match="Dataset or an"):
        lesion_study(model, x, clustering=labels, progress=False)
    with pytest.raises(ValueError, match="cannot draw 40"):
        random_lesions(labels, 1, 40, 1, seed=0)
    with pytest.raises(ValueError, match="not a hidden layer"):
        random_lesions(labels, 4, 1, 1, seed=0)


# ------------------------------------------------------------------ output


def test_tables_dict_and_docstrings(hand_study):
    text = hand_study.table()
    assert "L1M0" in text and "double lesions" in text
    md = hand_study.to_markdown()
    assert "| 1 | 1 / 4 |" in md and "L1M0 + L2M0" in md
    d = hand_study.to_dict()
    assert d["important"] == ["L1M0", "L2M0"]
    assert d["dependency"][0][0] is None  # NaN -> null
    json.dumps(d)


def test_figures(hand_study, tmp_path):
    pytest.importorskip("matplotlib")
    from modcore.report.lesion_plot import save_figures

    paths = save_figures(hand_study, tmp_path / "fig")
    assert [p.name for p in paths] == [
        "lesion_single.png",
        "lesion_double.png",
        "lesion_conditional.png",
        "lesion_classes.png",
    ]
    import matplotlib.image

    for path in paths:  # real PNGs of a readable size, not just some bytes
        image = matplotlib.image.imread(path)
        assert image.ndim == 3 and 200 <= image.shape[0] <= 3000 and 200 <= image.shape[1] <= 3000
