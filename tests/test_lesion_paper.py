"""The lesion tests as Filan et al. define them: the paper's importance rule and
categories, the network-level tests (against scipy.stats) and the conditional
double-lesion test on planted networks."""

import copy
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
stats = pytest.importorskip("scipy.stats")

from modcore.nn import MLP, weight_layers
from modcore.nn.lesion import lesion_study, network_tests
from modcore.nn.lesion.network_level import fisher_p, percentile, rank_chi2_p
from modcore.nn.lesion.rules import count_p_value, paper_category

pytestmark = pytest.mark.usefixtures("torch_one_thread")


# ------------------------------------------------------------------ the paper's rule


# (drop, correct counts of the random lesions vs the sub-module's 100, size, live units,
#  expected category): R = 4 random lesions.
TABLE = [
    (0.05, [100, 100, 101, 130], 30, 250, "important"),  # ties count for the sub-module
    (0.05, [99, 100, 101, 130], 30, 250, "diff-but-not-sig"),  # one random lesion worse
    (0.05, [100, 100, 101, 130], 12, 250, "small"),  # the size floor: 12 is small
    (0.05, [100, 100, 101, 130], 13, 250, "important"),  # ... 13 is not
    (0.05, [100, 100, 101, 130], 250, 250, "complete"),  # the whole live layer
    (0.01, [100, 100, 101, 130], 30, 250, "important"),  # exactly 1 point is enough
    (0.0099, [100, 100, 101, 130], 30, 250, "sig-but-not-diff"),
    (0.005, [90, 91, 95, 99], 30, 250, "prunable"),  # every random lesion worse, small drop
    (0.05, [90, 91, 95, 99], 30, 250, "least_important"),  # ... large drop
    (0.01, [99, 100, 101, 130], 30, 250, "other"),  # 1 point, not significant, not more
]


@pytest.mark.parametrize("drop, random_counts, size, live, expected", TABLE)
def test_paper_category_on_a_hand_made_table(drop, random_counts, size, live, expected):
    harmful = sum(c < 100 for c in random_counts)
    got = paper_category(
        drop=drop, n_harmful=harmful, n_random=4, size=size, live=live, min_drop=0.01
    )
    assert got == expected


def test_p_values_and_ties():
    random_counts = [100, 100, 101, 130, 95]
    # The paper: (1 + #{strictly fewer correct}) / (R + 1); modcore's Bonferroni rule
    # also counts the two ties against the sub-module.
    assert count_p_value(100, random_counts, ties_count_against=False) == 2 / 6
    assert count_p_value(100, random_counts, ties_count_against=True) == 4 / 6
    assert percentile(0.3, [0.1, 0.3, 0.5]) == 2 / 4
    assert percentile(0.3, [0.1, 0.3, 0.5], side="right") == 2 / 4


# ------------------------------------------------------------------ network-level tests


def test_fisher_and_chi_square_against_scipy():
    r = 9
    p = np.array([0.1, 0.1, 0.2, 0.5, 1.0, 0.1, 0.3])  # ranks 0, 0, 1, 4, 9, 0, 2
    shifted = p - 0.5 / (r + 1)
    statistic = -2 * np.log(shifted).sum()
    assert fisher_p(p, r) == pytest.approx(stats.chi2.sf(statistic, 2 * len(p)), rel=1e-12)
    observed = np.array([3, 1, 1, 0, 1, 0, 0, 0, 0, 1])
    expected = len(p) / (r + 1)
    chi = ((observed - expected) ** 2 / expected).sum()
    assert rank_chi2_p(p, r) == pytest.approx(stats.chi2.sf(chi, r), rel=1e-12)
    assert rank_chi2_p([np.nan, *p], r) == rank_chi2_p(p, r)
    assert math.isnan(fisher_p([np.nan], r))


def test_network_tests_by_hand():
    # Binary fractions, so that equal changes are equal in floating point.
    base = np.array([0.75, 0.5, np.nan])  # class 2 has no test example: left out
    true = np.array(
        [
            [0.25, 0.5, np.nan],  # mean 0.375; changes (-0.5, 0): spread 2
            [0.625, 0.375, np.nan],
        ]
    )  # mean 0.5; changes (-1/8, -1/8): spread 0
    random = np.array(
        [
            # means 0.5, 0.375, 0.625; spreads 0, 2, 0 (no change at all)
            [[0.625, 0.375, 0], [0.25, 0.5, 0], [0.75, 0.5, 0]],
            # means 0.5, 0.5, 0.625; spreads 2, 0, inf (changes +1/8 and -1/8 cancel)
            [[0.5, 0.5, 0], [0.625, 0.375, 0], [0.875, 0.375, 0]],
        ]
    )
    t = network_tests(base, true, random)
    # Mean: #{random mean < true mean}: 0 of 3 (one tie), then 0 of 3 (two ties).
    assert t.mean_percentiles.tolist() == [0.25, 0.25]
    # Spread: #{random spread > true spread}: 0 (one tie), then 2 (2 and inf > 0).
    assert t.spread_percentiles.tolist() == [0.25, 0.75]
    assert t.mean_effect == pytest.approx(np.mean([0.5 / 0.375, (1.625 / 3) / 0.5]))
    # (0 + 2 + 0) / 3 / 2 = 1/3, and (2 + 0 + inf) / 3 / 0 = inf.
    assert t.spread_effect == math.inf
    assert t.mean_fisher_p == pytest.approx(
        stats.chi2.sf(-2 * 2 * np.log(0.25 - 0.125), 4), rel=1e-12
    )
    with pytest.raises(ValueError, match="expected base"):
        network_tests(base, true, random[:, :, :2])


# ------------------------------------------------------------------ planted networks
#
# 6 inputs x ~ U(0, 1); 4 classes, label = 2 [x0 > 0.5] + [x1 > 0.5]. Hidden layers of
# 4 blocks of `b` neurons (modules 0..3):
#   layer 1: P (0) = relu(10 (x0 - 0.5)), Q (1) = relu(10 (x1 - 0.5)), 2 and 3 read x2..x5;
#   layer 2: P (0) reads layer 1's P only, Q (1) reads Q only, 2 and 3 read 2 and 3;
#   output: logit 1 = sum Q, logit 2 = sum P, logit 3 = sum P + sum Q - 1, logit 0 = 0.001.
# Layer 1's P feeds layer 2's P only (dependent: type I); layer 1's P and layer 2's Q
# carry different bits (independent: type IV). Blocks 2 and 3 do nothing.


def planted(b):
    w = 4 * b
    model = MLP([6, w, w, 4])
    l1, l2, l3 = weight_layers(model)
    blocks = [slice(k * b, (k + 1) * b) for k in range(4)]
    with torch.no_grad():
        for lin in (l1, l2, l3):
            lin.weight.zero_()
            lin.bias.zero_()
        l1.weight[blocks[0], 0] = 10.0
        l1.weight[blocks[1], 1] = 10.0
        l1.bias[blocks[0]] = l1.bias[blocks[1]] = -5.0
        l1.weight[2 * b :, 2:] = 0.3
        for k in range(4):
            l2.weight[blocks[k], blocks[k]] = 1.0 if k < 2 else 0.5
        l3.weight[1, blocks[1]] = l3.weight[3, blocks[1]] = 1.0
        l3.weight[2, blocks[0]] = l3.weight[3, blocks[0]] = 1.0
        l3.bias[3], l3.bias[0] = -1.0, 1e-3
    labels = [
        np.array([0, 1, 2, 2, 3, 3]),
        np.repeat(np.arange(4), b),
        np.repeat(np.arange(4), b),
        np.zeros(4, int),
    ]
    return model, labels


def planted_data(n=2000, seed=0):
    x = torch.rand(n, 6, generator=torch.Generator().manual_seed(seed))
    return x, 2 * (x[:, 0] > 0.5).long() + (x[:, 1] > 0.5).long()


def accuracy_with(model, x, y, lesion):
    """Oracle: accuracy of a copy whose Linear layers have the lesioned inputs zeroed."""
    twin = copy.deepcopy(model)
    with torch.no_grad():
        for layer, neurons in lesion.items():
            weight_layers(twin)[layer].weight[:, torch.as_tensor(neurons)] = 0
        return int((twin.eval()(x).argmax(dim=1) == y).sum()) / len(y)


@pytest.fixture(scope="module")
def paper_study():
    model, labels = planted(13)
    x, y = planted_data()
    study = lesion_study(
        model, (x, y), clustering=labels, rule="paper", random_lesions=20, seed=0, progress=False
    )
    return study, model, x, y


def test_paper_rule_on_a_planted_network(paper_study):
    study, *_ = paper_study
    assert study.rule == "paper" and study.threshold == 1 / 20
    assert study.base_accuracy > 0.99
    by_name = {s.name: s for s in study.single}
    for name in ("L1M0", "L1M1", "L2M0", "L2M1"):
        s = by_name[name]
        assert 0.45 < s.drop < 0.55 and s.important and s.category == "important"
        assert s.p_value == 1 / 21
    for name in ("L1M2", "L1M3", "L2M2", "L2M3"):
        s = by_name[name]
        # Harmless, and every random lesion ties at 0: significant by the paper's
        # convention, but under the 1-point minimum.
        assert s.drop == 0 and (s.random_drops == 0).all()
        assert s.p_value == 1 / 21 and s.category == "sig-but-not-diff" and not s.important
    assert study.max_random_lesions == 20 and all(s.n_random == 20 for s in study.single)
    assert "paper rule" in study.table() and "paper rule" in study.to_markdown()
    assert "sig-but-not-diff 4" in study.to_markdown()


def test_conditional_test_finds_dependent_and_independent_pairs(paper_study):
    study, model, x, y = paper_study
    types = {(p.name_a, p.name_b): p.dependency_type for p in study.pairs}
    assert types == {
        ("L1M0", "L2M0"): "I",
        ("L1M1", "L2M1"): "I",  # P -> P, Q -> Q
        ("L1M0", "L2M1"): "IV",
        ("L1M1", "L2M0"): "IV",
    }  # independent bits
    for p in study.pairs:
        a, b = study.single[p.a], study.single[p.b]
        assert p.a_given_b == pytest.approx(p.joint_drop - b.drop)
        assert p.b_given_a == pytest.approx(p.joint_drop - a.drop)
        dependent = p.dependency_type == "I"
        assert (abs(p.a_given_b) < 0.005) == dependent
        assert (p.a_given_b > 0.2) == (not dependent)
        # The random sets: a's first random lesion with b kept, against a zeroed copy.
        base = study.base_accuracy
        joint_random = accuracy_with(
            model, x, y, {a.layer: a.random_neurons[0], b.layer: b.neurons}
        )
        assert p.a_given_b_random[0] == pytest.approx(base - joint_random - b.drop, abs=1e-12)
        assert p.a_given_b_important == p.b_given_a_important == (not dependent)
        assert len(p.a_given_b_random) == len(p.b_given_a_random) == 20
    index = [study.single[i].name for i in study.dependency_index]
    k = {name: i for i, name in enumerate(index)}
    # Bit 1 lost on top of bit 0: about a quarter of the examples.
    assert study.conditional[k["L1M0"], k["L2M1"]] == pytest.approx(0.25, abs=0.05)
    assert study.conditional_important[k["L1M0"], k["L2M1"]]
    assert not study.conditional_important[k["L1M0"], k["L2M0"]]
    assert np.isnan(study.conditional[k["L1M0"], k["L1M1"]])  # same layer: not lesioned
    assert (
        study.conditional[k["L2M0"], k["L2M0"]]
        == study.single[study.dependency_index[k["L2M0"]]].drop
    )
    md = study.to_markdown()
    assert "I 2, II 0, III 0, IV 2" in md


def test_network_tests_of_the_planted_study(paper_study):
    study, *_ = paper_study
    t = study.network_tests
    # The four signal blocks beat all 20 random lesions on the mean class accuracy; the
    # four harmless ones tie with theirs.
    p = dict(zip((s.name for s in study.single), t.mean_percentiles))
    assert {p[n] for n in ("L1M0", "L1M1", "L2M0", "L2M1")} == {1 / 21}
    assert t.n_random == 20 and len(t.spread_percentiles) == 8
    assert t.mean_effect > 1  # random lesions leave more accuracy than the sub-modules'


def test_paper_rule_size_floor_in_a_study():
    model, labels = planted(4)  # blocks of 4 <= 12 neurons: "small", never important
    study = lesion_study(
        model,
        planted_data(1000),
        clustering=labels,
        rule="paper",
        random_lesions=20,
        seed=0,
        progress=False,
    )
    signal = [s for s in study.single if s.module < 2]
    assert all(s.drop > 0.4 and s.category == "small" and not s.important for s in signal)
    assert study.pairs == [] and study.important == []
    bonferroni = lesion_study(
        model,
        planted_data(1000),
        clustering=labels,
        random_lesions=20,
        seed=0,
        progress=False,
        double=False,
    )
    assert {s.name for s in bonferroni.important} == {"L1M0", "L1M1", "L2M0", "L2M1"}
    assert all(s.category is None for s in bonferroni.single)


def test_all_pairs():
    model, labels = planted(4)
    study = lesion_study(
        model,
        planted_data(500),
        clustering=labels,
        random_lesions=5,
        seed=0,
        progress=False,
        pair_set="all",
    )
    assert len(study.pairs) == 16  # 4 x 4 sub-modules in different layers
    assert study.n_masks["double"] == 16 * (1 + 3 * 5)
    assert sum(p.dependency_type is not None for p in study.pairs) == 4  # important pairs
    with pytest.raises(ValueError, match="pair_set must be one of"):
        lesion_study(model, planted_data(500), clustering=labels, pair_set="some")
    with pytest.raises(ValueError, match="rule must be one of"):
        lesion_study(model, planted_data(500), clustering=labels, rule="holm")
