"""Which lesions count: the two importance rules, their p-values, the authors'
categories of sub-modules and their dependency types of pairs.

All comparisons are made on integer counts of correct test predictions, so ties
are exact: a lesion is more harmful than another when it leaves fewer correct
predictions.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "RULES",
    "PAPER_SMALL",
    "DEPENDENCY_TYPES",
    "check_rule",
    "count_p_value",
    "paper_category",
    "dependency_type",
]

RULES = ("bonferroni", "paper")
#: The paper's size floor: sub-modules of this many units or fewer are "small"
#: (about 5 % of a 256-neuron layer), never important.
PAPER_SMALL = 12
#: (X|Y important, Y|X important) -> the authors' dependency type of X (earlier
#: layer) and Y, both important alone. Types I-III suggest information flows from
#: X to Y; type IV looks like independence.
DEPENDENCY_TYPES = {
    (False, False): "I",
    (True, False): "II",
    (False, True): "III",
    (True, True): "IV",
}
# Drops are multiples of 1 / n_test; this absorbs the rounding of min_drop * n_test.
_EPS = 1e-12


def check_rule(rule: str) -> str:
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    return rule


def count_p_value(true_count: int, random_counts, *, ties_count_against: bool) -> float:
    """One-sided Monte Carlo p-value of a lesion among random ones, from correct counts.

    ``(1 + #{random lesions at least as harmful}) / (R + 1)``: "at least as
    harmful" is ``<=`` the lesion's correct count when ``ties_count_against``
    (modcore's Bonferroni rule), ``<`` otherwise (the paper's ``compute_pvalue``,
    where a tie counts for the lesion).

    Examples
    --------
    >>> count_p_value(5, [5, 6, 9], ties_count_against=True)
    0.5
    >>> count_p_value(5, [5, 6, 9], ties_count_against=False)
    0.25
    """
    random_counts = np.asarray(random_counts)
    harmful = random_counts <= true_count if ties_count_against else random_counts < true_count
    return (1 + int(harmful.sum())) / (len(random_counts) + 1)


def paper_category(
    *, drop: float, n_harmful: int, n_random: int, size: int, live: int, min_drop: float
) -> str:
    """The authors' category of a sub-module (``layer_cluster_taxonomify``).

    ``n_harmful`` random lesions of ``n_random`` were strictly more harmful, so
    the paper's p-value is ``(1 + n_harmful) / (n_random + 1)``; it is
    significant below ``1 / n_random`` (no random lesion more harmful), and it is
    1 when every random lesion was more harmful. In order: ``"complete"`` (the
    sub-module is every live unit of its layer), ``"small"`` (``size <=``
    :data:`PAPER_SMALL`), ``"important"`` (significant, drop >= ``min_drop``),
    ``"prunable"`` (p = 1, drop < ``min_drop``), ``"least_important"`` (p = 1,
    drop >= ``min_drop``), ``"sig-but-not-diff"`` (significant, smaller drop),
    ``"diff-but-not-sig"`` (drop > ``min_drop``, not significant), else ``"other"``.

    Examples
    --------
    >>> paper_category(drop=0.05, n_harmful=0, n_random=100, size=30, live=250, min_drop=0.01)
    'important'
    >>> paper_category(drop=0.05, n_harmful=0, n_random=100, size=12, live=250, min_drop=0.01)
    'small'
    """
    big = drop >= min_drop - _EPS
    significant = (1 + n_harmful) / (n_random + 1) < 1 / n_random
    if size == live:
        return "complete"
    if size <= PAPER_SMALL:
        return "small"
    if significant and big:
        return "important"
    if n_harmful == n_random:
        return "least_important" if big else "prunable"
    if significant:
        return "sig-but-not-diff"
    if drop > min_drop + _EPS:
        return "diff-but-not-sig"
    return "other"


def dependency_type(a_given_b: bool, b_given_a: bool) -> str:
    """``"I"`` .. ``"IV"`` from the two conditional outcomes (see :data:`DEPENDENCY_TYPES`)."""
    return DEPENDENCY_TYPES[(bool(a_given_b), bool(b_given_a))]
