"""modcore.report.verdict: the sentence a result is stated in, checked on hand-worked cases."""

import pytest

import modcore
from modcore.method.null import SHUFFLES
from modcore.network.synthetic import planted_modular_mlp
from modcore.report.verdict import NULLS, null_description, verdict


def null(p, z, n=300, shuffle="layer"):
    return {"shuffle": shuffle, "n_shuffles": n, "z_score": z, "p_value": p}


@pytest.mark.parametrize(
    "result, expected",
    [
        (null(1 / 301, -7.76), "more modular than 300 'layer' shuffles: z = -7.76, p = 0.0033"),
        # The level itself is significant: a Monte Carlo p-value is valid at p <= alpha.
        (null(0.05, -2.0, n=19), "more modular than 19 'layer' shuffles: z = -2.00, p = 0.05"),
        (
            null(0.0631, -1.51, shuffle="layer_nonzero"),
            "not significantly more modular than 300 'layer_nonzero' shuffles: "
            "z = -1.51, p = 0.063",
        ),
        (
            null(0.683, 0.48),
            "not more modular than 300 'layer' shuffles (its n-cut is above their mean): "
            "z = 0.48, p = 0.68",
        ),
        # 10 shuffles cannot give p < 1/11: the sentence says so.
        (
            null(1 / 11, -3.0, n=10),
            "not significantly more modular than 10 'layer' shuffles: z = -3.00, p = 0.091 "
            "(with 10 shuffles p cannot go below 0.091: use more)",
        ),
        # JSON spells an infinite z "-inf" (a null of equal n-cuts).
        (null(1 / 21, "-inf", n=20), "more modular than 20 'layer' shuffles: z = -inf, p = 0.048"),
        (
            null(1.0, 0.0, n=1),
            "not significantly more modular than 1 'layer' shuffle: z = 0.00, "
            "p = 1 (with 1 shuffle p cannot go below 0.5: use more)",
        ),
    ],
)
def test_verdict_words(result, expected):
    assert verdict(result) == expected


def test_verdict_of_a_significance_object_and_its_dict_agree():
    w, _ = planted_modular_mlp([16, 12, 8], n_modules=2, seed=0)
    sig = modcore.ncut_significance(w, n_clusters=2, n_shuffles=30, seed=0, progress=False)
    assert verdict(sig) == verdict(sig.to_dict())
    assert verdict(sig).startswith("more modular than 30 'layer' shuffles") == (sig.p_value <= 0.05)


def test_alpha_is_the_level():
    assert verdict(null(0.02, -2.5), alpha=0.01).startswith("not significantly")
    assert verdict(null(0.02, -2.5), alpha=0.05).startswith("more modular")
    with pytest.raises(ValueError, match="alpha"):
        verdict(null(0.02, -2.5), alpha=0)


def test_every_shuffle_method_is_described():
    assert set(NULLS) == set(SHUFFLES)
    assert "sparsity pattern" in null_description("layer_nonzero")
    assert "not which units are connected" in null_description("layer")
    with pytest.raises(ValueError, match="shuffle must be one of"):
        null_description("row")


def test_a_sequential_stop_is_stated_as_by_design():
    """Stopped after 3 of 400 allowed shuffles: the p-value (h / l = 1) is valid, and
    '3 shuffles cannot go below 0.25: use more' would be false (issue 27 item 7)."""
    stopped = {**null(1.0, 1.2, n=3), "stop_after": 3, "max_shuffles": 400}
    assert verdict(stopped) == (
        "not more modular than 3 'layer' shuffles (its n-cut is above their mean): "
        "z = 1.20, p = 1 (the sequential test stopped after 3 of 400 allowed shuffles, "
        "once 3 were at or below the network's n-cut, as designed)"
    )
    # All allowed shuffles ran: nothing to add; too few allowed: said so.
    ran_all = {**null(0.3, -0.5, n=400), "stop_after": 3, "max_shuffles": 400}
    assert verdict(ran_all) == verdict(null(0.3, -0.5, n=400))
    few = {**null(0.5, 0.1, n=2), "stop_after": 1, "max_shuffles": 9}
    assert verdict(few).endswith("(with 9 shuffles p cannot go below 0.1: use more)")


def test_a_real_sequential_stop_and_its_dict_give_the_same_sentence():
    from modcore.network.synthetic import random_pruned_mlp

    w = random_pruned_mlp((20, 20, 20), sparsity=0.5, seed=1)
    sig = modcore.ncut_significance(
        w, n_clusters=3, n_shuffles=400, stop_after=3, seed=0, progress=False
    )
    assert sig.n_shuffles < 400
    said = verdict(sig)
    assert said == verdict(sig.to_dict())
    assert "cannot go below" not in said
    assert f"stopped after {sig.n_shuffles} of 400 allowed shuffles" in said
