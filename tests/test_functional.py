"""Functional modules: activations, the coactivation graph, its clustering and null,
and the comparison with weight modules, each against an independent oracle
(a manual forward pass, scipy, numpy, scikit-learn, modcore.ncut on a dense graph)."""

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
import scipy.stats
from sklearn import metrics

import modcore
from modcore.method.partition import adjusted_rand_score, normalized_mutual_info_score
from oracles import ncut as oracle_ncut

torch = pytest.importorskip("torch")
from torch import nn
from torch.nn import functional as F

from modcore.nn import (
    CNN,
    MLP,
    Activations,
    activations,
    checkpoint,
    load_dataset,
)

pytestmark = [
    pytest.mark.usefixtures("torch_one_thread"),
    pytest.mark.filterwarnings("ignore:dropped .* zero variance:UserWarning"),
]


def _squared_spearman(x):
    r = scipy.stats.spearmanr(x, axis=1).statistic
    r = np.nan_to_num(r**2)
    np.fill_diagonal(r, 0)
    return r


def _dense(graph):
    return graph.adjacency().toarray()


# -- activations --------------------------------------------------------------------------


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(6, 5), nn.ReLU(), nn.Dropout(0.5), nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3)
    )


def test_activations_equal_a_manual_forward_pass_in_eval_mode():
    model = _mlp()
    model.train()
    model[2].eval()  # a mixed state, which must come back as it was
    flags = [m.training for m in model.modules()]
    x = torch.randn(37, 6)
    acts = activations(model, x, batch_size=8)
    assert [m.training for m in model.modules()] == flags
    with torch.no_grad():
        h1 = torch.relu(x @ model[0].weight.T + model[0].bias)  # dropout is off in eval mode
        h2 = torch.relu(h1 @ model[3].weight.T + model[3].bias)
        out = h2 @ model[5].weight.T + model[5].bias  # the logits: no activation follows
    expected = {"0": h1, "3": h2, "5": out}
    assert acts.group_names == ("0", "3", "5")
    assert acts.group_sizes == (5, 4, 3)
    for row, (name, unit) in enumerate(acts.units):
        np.testing.assert_allclose(
            acts.values[row], expected[name][:, unit].numpy(), rtol=1e-6, atol=1e-6
        )
    kept = {(n, i) for n, i in acts.units}
    assert kept | set(acts.dropped) == {
        (n, i) for n, s in zip(acts.group_names, acts.group_sizes) for i in range(s)
    }
    assert acts.values.shape == (len(kept), 37)


class _TrainingBranch(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        if self.training:  # fixed when traced: the model must be traced in eval mode
            x = x * 0
        return self.fc(x)


def test_a_model_in_training_mode_is_traced_and_run_in_eval_mode():
    model = _TrainingBranch().train()
    x = torch.randn(10, 3)
    acts = activations(model, x)
    assert model.training
    with torch.no_grad():
        np.testing.assert_allclose(acts.values, model.fc(x).numpy().T, rtol=1e-6)


def test_activations_do_not_depend_on_the_batch_size():
    model, x = _mlp(), torch.randn(50, 6)
    a = activations(model, x, batch_size=7)
    b = activations(model, x.numpy(), batch_size=1000)
    np.testing.assert_allclose(a.values, b.values, rtol=1e-6, atol=1e-6)  # BLAS blocking
    np.testing.assert_array_equal(a.unit_index, b.unit_index)


class _Functional(nn.Module):
    """Activations written as functions and methods, a BatchNorm between layer and
    activation, and a layer called twice."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.bn = nn.BatchNorm1d(4)
        self.out = nn.Linear(4, 2)

    def forward(self, x):
        h = F.relu(self.bn(self.fc(x)))
        h = self.fc(h).sigmoid()
        return torch.tanh(self.out(h))


def test_activations_follow_functional_activations_batchnorm_and_repeated_calls():
    torch.manual_seed(1)
    model = _Functional()
    with torch.no_grad():
        model.bn.running_mean.uniform_(-1, 1)
        model.bn.running_var.uniform_(0.5, 2)
    x = torch.randn(30, 4)
    acts = activations(model, x)
    assert acts.group_names == ("fc", "fc#2", "out")
    model.eval()
    with torch.no_grad():
        h1 = F.relu(model.bn(model.fc(x)))
        h2 = torch.sigmoid(model.fc(h1))
        expected = {"fc": h1, "fc#2": h2, "out": torch.tanh(model.out(h2))}
    for row, (name, unit) in enumerate(acts.units):
        np.testing.assert_allclose(
            acts.values[row], expected[name][:, unit].numpy(), rtol=1e-5, atol=1e-6
        )


def _cnn():
    torch.manual_seed(2)
    model = nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1),
        nn.BatchNorm2d(3),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Conv2d(3, 4, 3),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 2 * 3, 5),
    )
    with torch.no_grad():
        model[1].running_mean.uniform_(-0.5, 0.5)
    return model


@pytest.mark.parametrize("map_norm", ["l2", "mean_abs", "max_column", "spectral"])
def test_conv_channels_are_reduced_as_documented(map_norm):
    model, x = _cnn(), torch.randn(25, 2, 8, 10)  # maps of 8 x 10, then 2 x 3
    acts = activations(model, x, map_norm=map_norm, batch_size=10)
    model.eval()
    with torch.no_grad():
        a0 = torch.relu(model[1](model[0](x))).numpy()  # (batch, channel, h, w)
        a1 = torch.relu(model[4](model[3](torch.tensor(a0)))).numpy()
    # numpy's definitions, channels' maps on the last two axes
    oracle = {
        "l2": lambda a: np.sqrt((a.astype(np.float64) ** 2).sum(axis=(2, 3))),
        "mean_abs": lambda a: np.abs(a).mean(axis=(2, 3)),
        "max_column": lambda a: np.linalg.norm(a.astype(np.float64), 1, axis=(2, 3)),
        "spectral": lambda a: np.linalg.norm(a.astype(np.float64), 2, axis=(2, 3)),
    }[map_norm]
    expected = {"0": oracle(a0), "4": oracle(a1)}
    assert acts.group_names == ("0", "4", "7")
    for row, (name, unit) in enumerate(acts.units):
        if name in expected:
            np.testing.assert_allclose(
                acts.values[row], expected[name][:, unit], rtol=1e-5, atol=1e-6
            )


def test_max_column_sums_the_height_axis():
    # One 2 x 3 map: column sums of |a| are 3, 5, 9; the max is 9 (row sums would give 12).
    conv = nn.Conv2d(1, 1, 1, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0)
    x = torch.tensor([[[[1.0, -2.0, 4.0], [2.0, 3.0, -5.0]]], [[[0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]]])
    acts = activations(nn.Sequential(conv), x, map_norm="max_column")
    np.testing.assert_allclose(acts.values, [[9.0, 1.0]])


def test_constant_units_are_dropped_and_named_in_a_warning():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    with torch.no_grad():
        model[0].weight.uniform_(0.1, 1.0)
        model[0].bias.zero_()
        model[0].weight[2] = 0.0
        model[0].bias[2] = -1.0  # unit 2 of layer "0" is a dead ReLU
    x = torch.rand(40, 3)
    with pytest.warns(UserWarning, match=r"dropped 1 unit.*zero variance.*0\[2\]"):
        acts = activations(model, x)
    assert acts.dropped == (("0", 2),)
    assert ("0", 2) not in acts.units
    assert acts.n_units == 5


def test_units_selects_groups_and_the_input():
    model, x = _mlp(), torch.rand(20, 6)
    acts = activations(model, x, units=["3", "input"])
    assert acts.group_names == ("input", "3")  # in order of computation
    np.testing.assert_array_equal(acts.values[acts.unit_group == 0], x.numpy().T)
    with pytest.raises(ValueError, match=r"unknown group 'fc'.*'input', '0', '3', '5'"):
        activations(model, x, units=["fc"])
    with pytest.raises(TypeError, match="sequence of group names"):
        activations(model, x, units="0")


def test_activations_reject_bad_input():
    model = _mlp()
    with pytest.raises(TypeError, match=r"torch\.nn\.Module"):
        activations(lambda x: x, torch.rand(5, 6))
    with pytest.raises(ValueError, match="map_norm must be one of"):
        activations(model, torch.rand(5, 6), map_norm="l3")
    with pytest.raises(ValueError, match="at least 2 samples"):
        activations(model, torch.rand(1, 6))
    with pytest.raises(TypeError, match="data must be"):
        activations(model, [[0.0] * 6] * 3)
    with pytest.raises(TypeError, match=r"dtype torch\.uint8; expected floating-point"):
        activations(model, torch.zeros(5, 6, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"inputs of shape \(5, 7\) failed"):
        activations(model, torch.rand(5, 7))
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        activations(model, torch.rand(5, 6), batch_size=0)
    with pytest.raises(ValueError, match="'spectral' needs 2-D maps"):
        activations(nn.Sequential(nn.Conv1d(1, 2, 3)), torch.rand(4, 1, 9), map_norm="spectral")
    with pytest.raises(ValueError, match="NaN or infinite"):
        activations(model, torch.full((4, 6), float("nan")))
    with pytest.raises(ValueError, match="no Linear or convolution"):
        activations(nn.Sequential(nn.ReLU()), torch.rand(4, 6))

    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def forward(self, x):
            return self.fc(x) if x.sum() > 0 else x

    with pytest.raises(ValueError, match=r"torch\.fx cannot trace Branchy"):
        activations(Branchy(), torch.rand(4, 2))


# -- the coactivation graph -----------------------------------------------------------------


def _tied_data(seed=0, n_units=9, n_samples=40):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 5, size=(n_units, n_samples)).astype(np.float32)  # many ties
    x[1] = 2 * x[0] + rng.integers(0, 2, n_samples)  # strongly correlated with unit 0
    return x


@pytest.mark.parametrize("rank_elements", [None, 100])
def test_spearman_graph_equals_scipy(rank_elements, monkeypatch):
    if rank_elements:  # rank 100 // 40 = 2 rows at a time
        monkeypatch.setattr(modcore.functional.coactivation, "_RANK_ELEMENTS", rank_elements)
    x = _tied_data()
    np.testing.assert_allclose(
        _dense(modcore.coactivation_graph(x)), _squared_spearman(x), rtol=0, atol=1e-12
    )


def test_pearson_graph_equals_numpy_and_unsquared_keeps_the_sign():
    x = np.random.default_rng(1).normal(size=(7, 30))
    x[3] = -x[2] + 0.3 * x[3]
    r = np.corrcoef(x)
    np.fill_diagonal(r, 0)
    net = modcore.coactivation_graph(x, method="pearson")
    np.testing.assert_allclose(_dense(net), r**2, rtol=0, atol=1e-12)
    signed = modcore.coactivation_graph(x, method="pearson", squared=False)
    rows, cols, vals = signed.blocks[0].coo()
    np.testing.assert_allclose(vals, r[rows, cols], rtol=0, atol=1e-12)
    assert (vals < 0).any()


@pytest.mark.parametrize("method", ["spearman", "pearson"])
def test_blockwise_and_one_shot_agree(method):
    x = np.random.default_rng(2).normal(size=(23, 50))
    one = modcore.coactivation_graph(x, method=method, block_size=23)
    for block in (1, 4, 7):
        net = modcore.coactivation_graph(x, method=method, block_size=block)
        np.testing.assert_array_equal(net.blocks[0].positions, one.blocks[0].positions)
        np.testing.assert_allclose(net.blocks[0].values, one.blocks[0].values, rtol=0, atol=1e-12)


def test_constant_units_get_no_edges_and_no_nan():
    x = np.random.default_rng(3).normal(size=(5, 20))
    x[2] = 1.7
    a = _dense(modcore.coactivation_graph(x))
    assert np.isfinite(a).all()
    assert not a[2].any() and not a[:, 2].any()
    keep = [0, 1, 3, 4]
    np.testing.assert_allclose(a[np.ix_(keep, keep)], _squared_spearman(x[keep]), atol=1e-12)


def test_coactivation_graph_is_one_group_in_unit_order():
    x = _tied_data()
    net = modcore.coactivation_graph(x)
    assert net.names == ("units",) and net.sizes == (9,)
    block = net.blocks[0]
    assert block.is_self
    rows, cols = np.divmod(block.positions, 9)
    assert (rows < cols).all() and (np.diff(block.positions) > 0).all()


def test_coactivation_graph_rejects_bad_input():
    with pytest.raises(ValueError, match="2-D"):
        modcore.coactivation_graph(np.zeros(5))
    with pytest.raises(ValueError, match="at least 2 units and 2 samples"):
        modcore.coactivation_graph(np.zeros((1, 5)))
    with pytest.raises(ValueError, match="NaN"):
        modcore.coactivation_graph(np.array([[1.0, np.nan], [1.0, 2.0]]))
    with pytest.raises(ValueError, match="method"):
        modcore.coactivation_graph(np.eye(3), method="kendall")
    with pytest.raises(TypeError, match="squared must be a bool"):
        modcore.coactivation_graph(np.eye(3), squared="yes")
    with pytest.raises(TypeError, match="dtype"):
        modcore.coactivation_graph(np.array([["a", "b"], ["c", "d"]]))
    with pytest.raises(ValueError, match="no two units have a non-zero correlation"):
        modcore.coactivation_graph(np.ones((3, 4)))


def test_the_layer_shuffle_permutes_the_upper_triangle_entries():
    # The 2021 null: a uniform permutation of the coactivation matrix's upper triangle.
    x = np.random.default_rng(4).normal(size=(12, 30))
    net = modcore.coactivation_graph(x, method="pearson")
    a = _dense(net)
    iu = np.triu_indices(12, 1)
    draws = []
    for index in range(3):
        s = _dense(modcore.shuffled_network(net, shuffle="layer", seed=5, index=index))
        np.testing.assert_array_equal(s, s.T)
        assert not np.diag(s).any()
        np.testing.assert_array_equal(np.sort(s[iu]), np.sort(a[iu]))
        draws.append(s[iu])
    assert not np.array_equal(draws[0], draws[1]) and not np.array_equal(draws[0], a[iu])


# -- partition scores against scikit-learn ------------------------------------------------


def test_nmi_and_ari_equal_scikit_learn():
    rng = np.random.default_rng(6)
    cases = [
        ([0, 0, 0], [1, 1, 1]),
        ([0, 1, 2], [0, 1, 2]),
        ([0, 1, 2], [5, 5, 5]),
        ([0, 0, 1, 1], [1, 1, 0, 0]),
        ([3], [7]),
        ([0, 1], [0, 0]),
        ([0, 0, 1, 2], [0, 1, 1, 1]),
    ]
    for _ in range(40):
        n = int(rng.integers(2, 200))
        a = rng.integers(0, rng.integers(1, 12), n)
        b = np.where(rng.random(n) < 0.5, a, rng.integers(-3, 40, n))
        cases.append((a, b))
    for a, b in cases:
        assert normalized_mutual_info_score(a, b) == pytest.approx(
            metrics.normalized_mutual_info_score(a, b), abs=1e-12
        )
        assert adjusted_rand_score(a, b) == pytest.approx(
            metrics.adjusted_rand_score(a, b), abs=1e-12
        )
    assert normalized_mutual_info_score([0, 0, 2, 2, 1], [4, 4, 0, 0, 9]) == 1.0


def test_partition_scores_reject_bad_labels():
    with pytest.raises(ValueError, match="differ in length"):
        normalized_mutual_info_score([0, 1], [0, 1, 2])
    with pytest.raises(TypeError, match="integers"):
        adjusted_rand_score([0.5, 1.0], [0, 1])
    with pytest.raises(ValueError, match="1-D"):
        adjusted_rand_score([[0, 1]], [[0, 1]])


# -- functional modules and the comparison ----------------------------------------------


def _two_halves(seed=0):
    """Two sub-networks with positive weights, each reading its own inputs: a
    unit fires with the units of its half and independently of the other half."""
    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 6), nn.ReLU())
    with torch.no_grad():
        for layer in (model[0], model[2]):
            n_out, n_in = layer.weight.shape
            mask = torch.block_diag(
                torch.ones(n_out // 2, n_in // 2), torch.ones(n_out // 2, n_in // 2)
            )
            layer.weight.copy_(mask * (0.5 + torch.rand(n_out, n_in, generator=g)))
            layer.bias.zero_()
    x = torch.rand(400, 8, generator=g)
    return model, x


def _weight_modules(model, n_clusters=2, seed=0):
    weights = [model[0].weight.detach().numpy().T, model[2].weight.detach().numpy().T]
    net = modcore.Network.from_weights(weights, names=["input", "0", "2"])
    return modcore.spectral_cluster(net, n_clusters=n_clusters, seed=seed)


def test_planted_halves_are_two_functional_modules_matching_the_weight_modules():
    model, x = _two_halves()
    fm = modcore.functional_modules(model, x, n_clusters=2, n_shuffles=19, seed=0, progress=False)
    half = np.array([0, 0, 0, 1, 1, 1])
    assert fm.group_names == ("0", "2")
    flat = np.concatenate(fm.labels)
    assert normalized_mutual_info_score(flat, np.concatenate([half, half])) == 1.0
    # Clearly more modular than the permuted coactivation matrices.
    assert fm.significance.p_value == pytest.approx(1 / 20)
    assert fm.ncut < fm.significance.shuffled_ncuts.min()

    weight = _weight_modules(model)
    cmp = modcore.compare_modules(fm, weight, n_permutations=199, seed=1)
    assert cmp.n_units == 12 and cmp.group_names == ("0", "2")
    assert cmp.nmi.value == 1.0 and cmp.ari.value == 1.0
    # 2 of the C(12, 6) = 924 labellings with two modules of 6 are the halves
    assert cmp.nmi.p_value <= 0.02
    assert cmp.transfer_ncut.value == pytest.approx(cmp.functional_ncut, abs=1e-12)
    assert cmp.transfer_ncut.p_value <= 0.02
    assert cmp.within_mean > cmp.between_mean
    json.dumps(cmp.to_dict(), allow_nan=False)
    json.dumps(fm.to_dict(), allow_nan=False)


def test_the_null_of_functional_modules_is_ncut_significance_of_the_graph():
    model, x = _two_halves(1)
    fm = modcore.functional_modules(model, x, n_clusters=3, n_shuffles=7, seed=4, progress=False)
    sig = modcore.ncut_significance(
        fm.graph, n_clusters=3, n_shuffles=7, shuffle="layer", seed=4, progress=False
    )
    np.testing.assert_array_equal(fm.significance.shuffled_ncuts, sig.shuffled_ncuts)
    assert fm.ncut == sig.ncut
    # labels mapped back: node i of the graph is unit acts.units[i]
    for node, (name, unit) in enumerate(fm.activations.units):
        assert fm.labels[fm.group_names.index(name)][unit] == sig.labels[0][node]
    none = modcore.functional_modules(fm.activations, n_clusters=3, n_shuffles=0, seed=4)
    assert none.significance is None and none.ncut == sig.ncut


def _comparison_oracle(fm, weight, seed, n_check):
    """Dense squared-Spearman matrix of the compared units, both label arrays,
    and the first permutations, computed without modcore.functional's code."""
    acts = fm.activations
    a = _squared_spearman(acts.values)
    nodes, f, w = [], [], []
    for g, name in enumerate(fm.group_names):
        wg = weight.group_names.index(name)
        for row in np.flatnonzero(acts.unit_group == g):
            unit = acts.unit_index[row]
            if fm.labels[g][unit] >= 0 and weight.labels[wg][unit] >= 0:
                nodes.append(row)
                f.append(fm.labels[g][unit])
                w.append(weight.labels[wg][unit])
    w = np.unique(w, return_inverse=True)[1]
    rng = np.random.default_rng(seed)
    perms = [rng.permutation(w) for _ in range(n_check)]
    return a[np.ix_(nodes, nodes)], np.array(f), w, perms


def test_comparison_statistics_equal_oracles():
    torch.manual_seed(3)
    model = nn.Sequential(
        nn.Linear(10, 12), nn.ReLU(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 4)
    )
    x = torch.randn(150, 10)
    fm = modcore.functional_modules(model, x, n_clusters=3, n_shuffles=0, seed=0)
    weights = [model[i].weight.detach().numpy().T for i in (0, 2, 4)]
    weight = modcore.spectral_cluster(
        modcore.Network.from_weights(weights, names=["input", "0", "2", "4"]), n_clusters=3, seed=0
    )
    cmp = modcore.compare_modules(fm, weight, n_permutations=30, seed=9)
    a, f, w, perms = _comparison_oracle(fm, weight, 9, 5)
    assert cmp.n_units == len(w)
    assert cmp.nmi.value == pytest.approx(metrics.normalized_mutual_info_score(f, w), abs=1e-12)
    assert cmp.ari.value == pytest.approx(metrics.adjusted_rand_score(f, w), abs=1e-12)
    # transfer n-cut against scipy's, on the dense graph of the units
    assert cmp.transfer_ncut.value == pytest.approx(oracle_ncut(a, w), abs=1e-10)
    assert cmp.functional_ncut == pytest.approx(oracle_ncut(a, f), abs=1e-10)
    for i, p in enumerate(perms):
        assert cmp.nmi.null[i] == pytest.approx(
            metrics.normalized_mutual_info_score(f, p), abs=1e-12
        )
        assert cmp.ari.null[i] == pytest.approx(metrics.adjusted_rand_score(f, p), abs=1e-12)
        assert cmp.transfer_ncut.null[i] == pytest.approx(oracle_ncut(a, p), abs=1e-10)
    same = w[:, None] == w[None, :]
    off = ~np.eye(len(w), dtype=bool)
    assert cmp.within_mean == pytest.approx(a[same & off].mean(), abs=1e-12)
    assert cmp.between_mean == pytest.approx(a[~same].mean(), abs=1e-12)
    null = cmp.transfer_ncut.null
    assert cmp.transfer_ncut.p_value == (1 + np.sum(null <= cmp.transfer_ncut.value)) / 31
    assert cmp.nmi.p_value == (1 + np.sum(cmp.nmi.null >= cmp.nmi.value)) / 31


def test_shuffled_weight_labels_give_an_nmi_at_its_null():
    model, x = _two_halves(2)
    fm = modcore.functional_modules(model, x, n_clusters=2, n_shuffles=0, seed=0)
    weight = _weight_modules(model)
    rng = np.random.default_rng(0)
    shuffled = dataclasses.replace(weight, labels=[rng.permutation(lab) for lab in weight.labels])
    cmp = modcore.compare_modules(fm, shuffled, n_permutations=199, seed=3)
    assert cmp.nmi.p_value > 0.05 and abs(cmp.nmi.z_score) < 2.5
    assert cmp.transfer_ncut.p_value > 0.05


def test_compare_modules_matches_groups_by_name():
    model, x = _two_halves()
    fm = modcore.functional_modules(model, x, n_clusters=2, n_shuffles=0, seed=0)
    weights = [model[0].weight.detach().numpy().T, model[2].weight.detach().numpy().T]
    unnamed = modcore.spectral_cluster(weights, n_clusters=2, seed=0)
    with pytest.raises(ValueError, match=r"share no group name.*\['0', '2'\].*'layer 0'"):
        modcore.compare_modules(fm, unnamed)
    other = modcore.spectral_cluster(
        modcore.Network.from_weights([np.ones((8, 4))], names=["input", "0"]), n_clusters=2, seed=0
    )
    with pytest.raises(ValueError, match="group '0' has 6 units in the functional modules but 4"):
        modcore.compare_modules(fm, other)
    with pytest.raises(TypeError, match="Clustering or Significance"):
        modcore.compare_modules(fm, weights)
    with pytest.raises(ValueError, match="leave data, units and input_shape unset"):
        modcore.functional_modules(fm.activations, x)


def test_activations_result_type():
    acts = activations(_mlp(), torch.rand(10, 6))
    assert isinstance(acts, Activations)
    assert "n_samples=10" in repr(acts)


def _two_half_cnn(seed=0):
    """Grouped convolutions and a block-diagonal Linear: channels 0-1 (then
    units 0-1) see only input channel 0, channels 2-3 (units 2-3) only channel 1."""
    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(2, 4, 3, groups=2),
        nn.ReLU(),
        nn.Conv2d(4, 4, 1, groups=2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 4),
        nn.ReLU(),
    )
    with torch.no_grad():
        for conv in (model[0], model[2]):
            conv.weight.copy_(0.5 + torch.rand(conv.weight.shape, generator=g))
            conv.bias.zero_()
        halves = torch.block_diag(torch.ones(2, 2 * 16), torch.ones(2, 2 * 16))  # channel-major
        model[5].weight.copy_(halves * (0.5 + torch.rand(4, 64, generator=g)))
        model[5].bias.zero_()
    return model, torch.rand(300, 2, 6, 6, generator=g)


def test_end_to_end_through_the_tracer_on_a_cnn():
    model, x = _two_half_cnn()
    weight = modcore.spectral_cluster(model, input_shape=(2, 6, 6), n_clusters=2, seed=0)
    fm = modcore.functional_modules(model, x, n_clusters=2, n_shuffles=9, seed=0, progress=False)
    assert weight.group_names == ("input", "0", "2", "5")
    assert fm.group_names == ("0", "2", "5")  # the tracer's names, so labels match by name
    cmp = modcore.compare_modules(fm, weight, n_permutations=99, seed=0)
    with pytest.raises(ValueError, match="n_permutations must be <= 100000"):
        modcore.compare_modules(fm, weight, n_permutations=10**12, seed=0)  # before any work
    assert cmp.n_units == 12 and cmp.group_names == ("0", "2", "5")
    half = np.array([0, 0, 1, 1])
    expected = np.concatenate([half, half, half])
    assert normalized_mutual_info_score(np.concatenate(fm.labels), expected) == 1.0
    assert normalized_mutual_info_score(np.concatenate(weight.labels[1:]), expected) == 1.0
    assert cmp.nmi.value == 1.0 and cmp.ari.value == 1.0


def test_functional_command(tmp_path):

    net, out, report = tmp_path / "net.pt", tmp_path / "functional.json", tmp_path / "report"
    checkpoint.save(MLP([784, 12, 10], seed=0), net, {})
    args = [
        "--dataset",
        "line",
        "--n-test",
        200,
        "--n-clusters",
        3,
        "--n-shuffles",
        4,
        "--permutations",
        15,
        "--seed",
        2,
        "--quiet",
    ]
    command = [sys.executable, "-m", "modcore", "functional"]
    proc = subprocess.run(
        [*command, str(net), *map(str, args), "--json", str(out), "--report", str(report)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "transfer n-cut" in proc.stdout and "NMI" in proc.stdout
    res = json.loads(out.read_text())
    # the same analysis in process, from the options' documented meaning
    model = checkpoint.load(net).model
    x = load_dataset("line", n_train=1, n_test=200, seed=2).x_test
    fm = modcore.functional_modules(model, x, n_clusters=3, n_shuffles=4, seed=2)
    weight = modcore.spectral_cluster(model, n_clusters=3, seed=2)
    cmp = modcore.compare_modules(fm, weight, n_permutations=15, seed=2)
    assert res["functional"]["group_names"] == ["0", "2"]
    assert res["functional"]["ncut"] == fm.ncut
    assert (
        res["functional"]["significance"]["shuffled_ncuts"]
        == fm.significance.shuffled_ncuts.tolist()
    )
    assert res["comparison"]["nmi"]["value"] == cmp.nmi.value
    assert res["comparison"]["transfer_ncut"]["null"] == cmp.transfer_ncut.null.tolist()
    assert res["command"].startswith("modcore functional") and res["dataset"] == "line"
    # --report: the same results, the coactivation figure and the page
    saved = json.loads((report / "summary.json").read_text())
    assert saved.pop("versions")["matplotlib"]  # drawn with it
    assert saved == {k: v for k, v in res.items() if k != "versions"}
    assert (report / "coactivation.png").is_file()
    page = (report / "index.html").read_text()
    assert f'<strong id="functional-ncut">{fm.ncut:.4f}</strong>' in page
    assert f"<tr><td>NMI</td><td>{cmp.nmi.value:.4f}</td>" in page
    bad = subprocess.run(
        [*command, str(tmp_path / "none.pt"), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and "no checkpoint" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_functional_command_reads_a_cnn_checkpoint_with_its_input_shape(tmp_path):
    net, out = tmp_path / "cnn.pt", tmp_path / "functional.json"
    model = CNN((1, 28, 28), channels=(4, 4), pool_after=(True, True), dense=(8,), seed=0)
    checkpoint.save(model, net, {})
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "modcore",
            "functional",
            str(net),
            "--dataset",
            "line",
            "--n-test",
            "150",
            "--clusters",
            "2",
            "--shuffles",
            "2",
            "--permutations",
            "5",
            "--json",
            str(out),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    res = json.loads(out.read_text())
    names = [name for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert res["functional"]["group_names"] == names
    assert res["weight"]["group_names"] == ["input", *names]


def test_pearson_is_blind_to_the_scale_of_huge_activations():
    # rows near 1e308 overflow a plain sum of squares; their correlations are those of
    # the same rows scaled down (they were silently counted as constant, edges 0)
    x = np.array([[1e308, -1e308, 1e308, 0.0], [1, 2, 3, 4], [4, 1, 3, 2.0]])
    small = x.copy()
    small[0] /= 1e300
    huge, ref = (
        modcore.functional.coactivation.coactivation_graph(v, method="pearson").blocks[0]
        for v in (x, small)
    )
    assert np.array_equal(huge.positions, ref.positions) and len(ref.values) == 3
    np.testing.assert_allclose(huge.values, ref.values, rtol=1e-12)
    r = np.corrcoef(small)  # the edge of units 0 and 1 is their r squared
    assert ref.values[0] == pytest.approx(r[0, 1] ** 2, rel=1e-12)


# -- units constant up to rounding (issue 27 item 7) --------------------------------------


def _with_rounding_noise(dtype):
    """Rows 0-3 vary; row 4 is 0.3 give or take one rounding step of ``dtype``."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(5, 50)).astype(dtype)
    base = dtype(0.3)
    x[4] = np.where(rng.random(50) < 0.5, base, np.nextafter(base, dtype(1)))
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("method", ["spearman", "pearson"])
def test_a_unit_varying_only_by_rounding_is_constant(dtype, method):
    x = _with_rounding_noise(dtype)
    assert np.ptp(x[4]) > 0  # it does vary, by one step
    exact = x.copy()
    exact[4] = dtype(0.3)
    got = _dense(modcore.coactivation_graph(x, method=method))
    assert not got[4].any() and not got[:, 4].any()
    np.testing.assert_array_equal(got, _dense(modcore.coactivation_graph(exact, method=method)))


def test_a_small_real_variation_is_kept():
    """The tolerance is rounding of the values' own dtype: float64 values varying by 1e-9
    of their size vary (float32 could not hold that variation)."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(4, 30))
    x[3] = 0.3 * (1 + 1e-9 * rng.normal(size=30))
    got = _dense(modcore.coactivation_graph(x))
    assert got[3].any()
    np.testing.assert_allclose(got, _squared_spearman(x), atol=1e-12)


def test_units_all_constant_up_to_rounding_are_refused_by_name():
    x = np.full((3, 50), np.float32(0.3))
    x[:, ::7] = np.nextafter(np.float32(0.3), np.float32(1))
    with pytest.raises(ValueError, match=r"3 of the 3 units are constant over the 50 samples"):
        modcore.coactivation_graph(x)


def test_activations_drop_units_constant_up_to_rounding():
    """50 inputs that move a unit by less than its float32 rounding step: dropped, as a
    dead unit is, instead of clustered as noise."""
    model = nn.Sequential(nn.Linear(3, 4))
    with torch.no_grad():
        model[0].weight.uniform_(0.5, 1.0)
        model[0].bias.zero_()
        model[0].weight[1] = 4e-9  # moves 0.1 by up to 1.6 of its float32 steps
        model[0].bias[1] = 0.1
    x = torch.rand(50, 3, generator=torch.Generator().manual_seed(0))
    out = model(x).detach()
    assert out[:, 1].max() > out[:, 1].min()  # rounding makes it move
    with pytest.warns(UserWarning, match=r"dropped 1 unit.*up to rounding.*0\[1\]"):
        acts = activations(model, x, units=["0"])
    assert acts.dropped == (("0", 1),)
