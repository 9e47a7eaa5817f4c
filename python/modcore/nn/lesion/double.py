"""Double lesions: pairs of sub-modules in different layers lesioned together.

For a pair (a, b), a in the lower layer, one batch holds ``1 + 3 R`` lesions:
both sub-modules; R random pairs (random lesion k of a with random lesion k of
b, the first R of each single lesion's); a's R random lesions with b kept; and
a kept with b's R random lesions. From them:

Joint test (additivity)
    ``interaction = joint drop - (drop_a + drop_b)``, against the random pairs'
    interactions (z and a two-sided p-value), and the joint drop against the
    random pairs' joint drops.
Conditional test (the authors' "conditional double lesion")
    With b lesioned, does lesioning a add more damage than lesioning random
    same-size sets of a's layer? ``a|b = joint drop - drop_b`` against
    ``drop(random_a_k + b) - drop_b``; ``a|b`` passes when no random set added
    more (p < 1/R, ties count for a, as in the paper) and it adds at least
    ``min_drop``. ``b|a`` likewise. For two important sub-modules the two
    outcomes give the authors' dependency type (:data:`~modcore.nn.lesion.rules.DEPENDENCY_TYPES`):
    a|b fails when b's lesion already removed what a contributes (a feeds only
    b), b|a fails when a's lesion already silenced b (b reads only a).

Pairs in the same layer are not lesioned: the authors left them out of the
classification because a random set drawn beside a fixed one of the same layer
has no clear null.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ...method.significance import null_stats
from .evaluate import _evaluate, class_accuracy
from .results import PairLesion
from .rules import count_p_value, dependency_type

__all__ = ["PAIR_SETS", "PairResults", "double_study"]

PAIR_SETS = ("important", "all")


@dataclass(frozen=True)
class PairResults:
    pairs: list
    interaction: np.ndarray
    conditional: np.ndarray
    conditional_important: np.ndarray
    index: list
    n_masks: int
    seconds: float


def double_study(
    model,
    units,
    x,
    y,
    single,
    base,
    class_sizes,
    r,
    min_drop,
    pair_set,
    reporter,
    *,
    run: bool = True,
) -> PairResults:
    """The pairs of ``single``'s sub-modules (``pair_set``), their joint and conditional tests."""
    started = time.perf_counter()
    n = len(y)
    base_total = int(base.sum())
    index = (
        [i for i, s in enumerate(single) if s.important]
        if pair_set == "important"
        else list(range(len(single)))
    )
    pairs_idx = (
        [(a, b) for a in index for b in index if single[a].layer < single[b].layer] if run else []
    )
    lesions = []
    for a, b in pairs_idx:
        sa, sb = single[a], single[b]
        lesions.append({sa.layer: sa.neurons, sb.layer: sb.neurons})
        lesions += [
            {sa.layer: sa.random_neurons[k], sb.layer: sb.random_neurons[k]} for k in range(r)
        ]
        lesions += [{sa.layer: sa.random_neurons[k], sb.layer: sb.neurons} for k in range(r)]
        lesions += [{sa.layer: sa.neurons, sb.layer: sb.random_neurons[k]} for k in range(r)]
    counts = np.zeros((0, len(base)), dtype=np.int64)
    if lesions:
        reporter.add(len(lesions), "double lesions")
        counts = _evaluate(model, units, x, y, lesions, len(base), reporter)

    pairs = []
    size = len(index)
    interaction = np.full((size, size), np.nan)
    conditional = np.full((size, size), np.nan)
    passed = np.zeros((size, size), dtype=bool)
    pos = {i: k for k, i in enumerate(index)}
    for k, i in enumerate(index):
        conditional[k, k] = single[i].drop
    for j, (a, b) in enumerate(pairs_idx):
        sa, sb = single[a], single[b]
        block = counts[j * (3 * r + 1) : (j + 1) * (3 * r + 1)]
        totals = block.sum(axis=1)
        true_total = int(totals[0])
        joint_rand, a_rand, b_rand = (totals[1 + q * r : 1 + (q + 1) * r] for q in range(3))
        joint = (base_total - true_total) / n
        rand_joint = (base_total - joint_rand) / n
        rand_inter = rand_joint - (sa.random_drops[:r] + sb.random_drops[:r])
        additive = sa.drop + sb.drop
        inter = joint - additive
        _, _, joint_z = null_stats(joint, rand_joint)
        mean_i, _, inter_z = null_stats(inter, rand_inter)
        # A tolerance of half a test example: values are multiples of 1/n up to rounding.
        far = np.abs(rand_inter - mean_i) >= abs(inter - mean_i) - 0.5 / n
        a_p = count_p_value(true_total, a_rand, ties_count_against=False)
        b_p = count_p_value(true_total, b_rand, ties_count_against=False)
        a_given_b, b_given_a = joint - sb.drop, joint - sa.drop
        # p < 1 / R: no random set added more damage.
        a_pass = bool(a_p < 1 / r and a_given_b >= min_drop - 1e-12)
        b_pass = bool(b_p < 1 / r and b_given_a >= min_drop - 1e-12)
        pairs.append(
            PairLesion(
                a=a,
                b=b,
                name_a=sa.name,
                name_b=sb.name,
                joint_drop=joint,
                class_accuracy=class_accuracy(block[0], class_sizes),
                additive=additive,
                interaction=inter,
                random_joint_drops=rand_joint,
                random_interactions=rand_inter,
                random_class_accuracy=class_accuracy(block[1 : r + 1], class_sizes),
                joint_z=joint_z,
                joint_p=count_p_value(true_total, joint_rand, ties_count_against=True),
                interaction_z=inter_z,
                interaction_p=(1 + int(far.sum())) / (r + 1),
                a_given_b=a_given_b,
                b_given_a=b_given_a,
                a_given_b_random=(base_total - a_rand) / n - sb.drop,
                b_given_a_random=(base_total - b_rand) / n - sa.drop,
                a_given_b_p=a_p,
                b_given_a_p=b_p,
                a_given_b_important=a_pass,
                b_given_a_important=b_pass,
                dependency_type=(
                    dependency_type(a_pass, b_pass) if sa.important and sb.important else None
                ),
            )
        )
        ka, kb = pos[a], pos[b]
        interaction[ka, kb] = interaction[kb, ka] = inter
        conditional[ka, kb], conditional[kb, ka] = a_given_b, b_given_a
        passed[ka, kb], passed[kb, ka] = a_pass, b_pass
    return PairResults(
        pairs=pairs,
        interaction=interaction,
        conditional=conditional,
        conditional_important=passed,
        index=index,
        n_masks=len(lesions),
        seconds=time.perf_counter() - started,
    )
