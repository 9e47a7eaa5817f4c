"""Lesion tests: how much each module matters, and how modules depend on each other.

A *sub-module* is a module of a clustering (:func:`modcore.spectral_cluster`)
restricted to one hidden layer. *Lesioning* a set of neurons sets their outgoing
activations to zero: a forward pre-hook on the Linear layer that reads the
hidden layer multiplies its input by a 0/1 mask, so the model itself is never
copied or changed. The result is exactly that of a copy of the model whose
Linear layer has those input columns zeroed.

Single lesions
    Each sub-module is lesioned and the drop in test accuracy measured, then
    compared with ``random_lesions`` lesions of the same number of neurons drawn
    at random from the same layer's live neurons (those with at least one edge,
    i.e. clustering label >= 0; neurons without edges do nothing, so drawing
    them would make random lesions look harmless). Reported: the drop, the
    random drops' mean and sample std, ``z = (drop - mean) / std`` and the
    one-sided Monte Carlo p-value ``(1 + #{random drop >= drop}) / (R + 1)``
    (ties count against the sub-module).

Important sub-modules
    A sub-module is *tested* when its drop is at least ``min_drop`` (default
    :data:`MIN_DROP`, 1 percentage point; a smaller drop is not important
    whatever its p-value). The family of tested sub-modules, of size m, is
    Bonferroni-corrected: *important* means tested and ``p < alpha / m``
    (default ``alpha`` :data:`ALPHA` = 0.05). The filter on the drop is decided
    before any random lesion is drawn, so restricting the family to it is valid.

    A Monte Carlo p-value cannot go below ``1 / (R + 1)``: with R = 50 and
    m >= 3 tested sub-modules no sub-module could ever pass ``alpha / m``. With
    ``adaptive=True`` (the default) the tested sub-modules that can still pass
    get more random lesions, drawn from the same random stream (4 times as
    many per round), up to ``R_max`` (or ``max_random_lesions``), the smallest
    count with ``1 / (R_max + 1) < alpha / m``, about ``m / alpha``; one whose
    count of random drops >= its own already rules significance out stops
    early. The others keep R. The decisions are those of drawing ``R_max`` for
    every tested sub-module; with the default ``R_max`` a sub-module is
    important only if its drop beats every one of its random lesions.
    So each sub-module's ``n_random`` is R or more, and its p-value, mean, std
    and z use all of its random lesions. ``adaptive=False`` keeps exactly R per
    sub-module and warns when nothing can pass.

Tiny sub-modules
    Empty sub-modules (a module without neurons in that layer) are skipped.
    Sub-modules of any other size are tested the same way; for a tiny one the
    null is small: a single neuron is compared with single random neurons of
    the same layer, itself included, so it is important only if it is clearly
    the most harmful neuron of its layer; a sub-module holding all (or nearly
    all) live neurons of its layer is compared with itself (or near copies of
    itself): p-value near 1, never important, whatever its drop. The drop
    of a lesion is at least ``1 / n_test`` when not 0, so small effects need a
    large test set.

Double lesions
    For each pair of important sub-modules in different layers, both are
    lesioned together. The joint drop is compared with the sum of the two
    single drops: ``interaction = joint - (drop_a + drop_b)``, negative when
    the damage overlaps (e.g. one sub-module feeds the other), positive when it
    compounds. Random pairs (random lesion k of a with random lesion k of b,
    the first R of each) give the null of both: the joint p-value and z of the
    joint drop, and the z and two-sided p-value of the interaction against the
    random pairs' interactions. The *dependency matrix* holds the interactions.
    Pair p-values are not corrected for the number of pairs and cannot go
    below ``1 / (R + 1)``: read them with the z-scores.

Evaluation is batched: the activations before the first lesioned layer are
computed once for the test set, then many masks run through the rest of the
network together as an extra leading batch dimension (``(n_masks, n_examples,
width)``; Linear layers and elementwise activations act on the last dimension).
Lesions of the last hidden layer alone, read only by the output layer, apply
each mask to the output layer's weight columns instead (the products of a
zeroed copy, without the cost of masking ``n_masks x n_examples x width``
activations). Either way each logit is the same sum of the same products as
in a copy of the model with the lesioned neurons' outgoing weights zeroed, and
the accuracies equal that copy's (tested). Counts of
correct predictions are integers, so drops are exact multiples of
``1 / n_test`` and results depend only on ``seed``.

The package: :mod:`~modcore.nn.lesion.masks` (which neurons a lesion silences,
and the hooks), :mod:`~modcore.nn.lesion.evaluate` (batched accuracy under
lesions), :mod:`~modcore.nn.lesion.study` (:func:`lesion_study`),
:mod:`~modcore.nn.lesion.results` (the result objects) and
:mod:`~modcore.nn.lesion.plot` (figures; needs matplotlib).

Examples
--------
>>> import numpy as np, torch
>>> from modcore.nn import MLP
>>> model = MLP([6, 8, 8, 3], seed=0)
>>> x, y = torch.rand(200, 6), torch.randint(0, 3, (200,))
>>> labels = [np.zeros(6, int), np.repeat([0, 1], 4), np.repeat([0, 1], 4), np.zeros(3, int)]
>>> study = lesion_study(model, (x, y), clustering=labels, random_lesions=10, seed=0,
...                      progress=False)
>>> [s.name for s in study.single], study.seed
(['L1M0', 'L1M1', 'L2M0', 'L2M1'], 0)
"""

from .evaluate import lesion_accuracy
from .masks import lesioned, random_lesions, sub_modules
from .network_tests import NetworkTests, network_tests
from .results import LesionStudy, PairLesion, SubModule, SubModuleLesion
from .rules import DEPENDENCY_TYPES, PAPER_SMALL, RULES
from .study import ALPHA, MIN_DROP, lesion_study
from .units import LesionUnits, lesion_units

__all__ = [
    "ALPHA",
    "MIN_DROP",
    "SubModule",
    "SubModuleLesion",
    "PairLesion",
    "LesionStudy",
    "NetworkTests",
    "LesionUnits",
    "RULES",
    "PAPER_SMALL",
    "DEPENDENCY_TYPES",
    "lesion_units",
    "network_tests",
    "sub_modules",
    "random_lesions",
    "lesioned",
    "lesion_accuracy",
    "lesion_study",
]
