"""Lesion tests: how much each module matters, and how modules depend on each other.

A *sub-module* is a module of a clustering (:func:`modcore.spectral_cluster`)
restricted to one group of units: an MLP layer's neurons, a convolution's
channels, a dense layer's neurons in a CNN. The groups are those of the traced
network (:func:`modcore.network.torch.trace.network_from_module`): for an MLP, group ``l``
is layer ``l``. *Lesioning* a set of units makes them send nothing downstream,
as if their outgoing weights were zero: a forward hook multiplies, by a 0/1 mask
over dim 1 (a neuron, or a channel's whole feature map), the output of the module
where the group's units leave their layer, after any BatchNorm, activation,
dropout and pooling that follow it (see :mod:`~modcore.nn.lesion.units` for why
after them). The model itself is never copied or changed, and the result is
exactly that of a copy whose following layers have the lesioned units' inputs
zeroed (tested, for MLPs, CNNs, BatchNorm and residual links).

Single lesions
    Each sub-module is lesioned and the drop in test accuracy measured, overall
    and per class, then compared with ``random_lesions`` lesions of the same
    number of units drawn at random from the same group's live units (those
    with at least one edge, i.e. clustering label >= 0; units without edges do
    nothing, so drawing them would make random lesions look harmless). Reported:
    the drop, the random drops' mean and sample std, ``z = (drop - mean) /
    std`` and a one-sided Monte Carlo p-value ``(1 + #{random lesions at least
    as harmful}) / (R + 1)``.

Important sub-modules: two rules (``rule=``)
    ``"bonferroni"`` (the default): a random lesion of equal drop counts against
    the sub-module. A sub-module is *tested* when its drop is at least
    ``min_drop`` (default :data:`MIN_DROP`, 1 percentage point); the family of
    the m tested sub-modules is Bonferroni-corrected: *important* means tested
    and ``p < alpha / m`` (``alpha`` default :data:`ALPHA` = 0.05). The filter on
    the drop is decided before any random lesion is drawn, so restricting the
    family to it is valid. A Monte Carlo p-value cannot go below ``1 / (R +
    1)``, so with ``adaptive=True`` the tested sub-modules that can still pass
    get more random lesions from the same stream (4 times as many per round) up
    to ``R_max`` (or ``max_random_lesions``), the smallest count with ``1 / (R_max
    + 1) < alpha / m``; one whose count of random lesions at least as harmful
    already rules significance out stops early. The decisions are those of
    drawing ``R_max`` for every tested sub-module. ``adaptive=False`` keeps R
    and warns when nothing can pass.

    ``"paper"``: Filan et al.'s rule (their code's ``compute_pvalue`` and
    ``layer_cluster_taxonomify``), R random lesions for every sub-module: a tie
    counts for the sub-module, so its p-value is ``(1 + #{random lesions
    strictly more harmful}) / (R + 1)``; important means ``p < 1 / R`` (no random
    lesion more harmful), a drop of at least ``min_drop``, more than
    :data:`PAPER_SMALL` (12) units and not all of the group's live units. Each
    sub-module also gets the authors' category (important, small, complete,
    prunable, least_important, sig-but-not-diff, diff-but-not-sig, other; see
    :func:`~modcore.nn.lesion.rules.paper_category`).

    Under either rule a tiny sub-module is compared with tiny random lesions of
    its group, itself included, and one holding (nearly) all live units of its
    group with (near) copies of itself. A drop is a multiple of ``1 / n_test``,
    so small effects need a large test set.

Network-level tests
    From the per-class accuracies of every sub-module's lesion and of its first
    R random lesions: the mean class accuracy and the spread of the per-class
    changes, each sub-module's percentile among its random lesions, combined over
    the sub-modules by a chi-square test of the percentiles' ranks and by
    Fisher's method, and effect factors, exactly as the authors defined them
    (:mod:`~modcore.nn.lesion.network_level`).

Double lesions (``pair_set=``: pairs of important sub-modules, or all pairs;
always in different layers)
    Joint test: both are lesioned together and ``interaction = joint - (drop_a
    + drop_b)`` compared with random pairs (random lesion k of a with random
    lesion k of b, the first R of each): negative when the damage overlaps
    (e.g. one sub-module feeds the other), positive when it compounds; the
    *dependency matrix* holds the interactions. Conditional test (the authors'):
    with b lesioned, is the extra damage of lesioning a, ``a|b = joint - drop_b``,
    larger than that of every random same-size set of a's layer (ties count for
    a), and at least ``min_drop``? ``b|a`` likewise. For two important
    sub-modules the two outcomes give the authors' dependency type: I (neither:
    a and b are one path), II (a|b only: a feeds b and something else), III
    (b|a only: b reads a and something else), IV (both: no sign of dependency);
    see :mod:`~modcore.nn.lesion.double`. Pair p-values are not corrected for
    the number of pairs and cannot go below ``1 / (R + 1)``.

Evaluation is batched: lesions on the same groups run together, their masks
joining the batch dimension (``n_masks * n_examples`` rows), and in an
``nn.Sequential`` the layers before the first lesioned group run once per chunk
of examples. Counts of correct predictions are integers, so drops are exact
multiples of ``1 / n_test`` and results depend only on ``seed``.

The package: :mod:`~modcore.nn.lesion.units` (the groups and where each is
silenced), :mod:`~modcore.nn.lesion.masks` (which units a lesion silences, and
the hooks), :mod:`~modcore.nn.lesion.evaluate` (batched accuracy under
lesions), :mod:`~modcore.nn.lesion.rules` (p-values, the paper's rule and
types), :mod:`~modcore.nn.lesion.network_level`,
:mod:`~modcore.nn.lesion.double` (pairs), :mod:`~modcore.nn.lesion.study`
(:func:`lesion_study`), :mod:`~modcore.nn.lesion.results` (the result
objects), :mod:`~modcore.nn.lesion.text` (tables),
:mod:`~modcore.nn.lesion.transformer` (a transformer's MLP neurons, under ``view=``) and
:mod:`~modcore.report.lesion_plot` (figures; needs matplotlib).

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
from .network_level import NetworkTests, network_tests
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

import typing as _typing

if not _typing.TYPE_CHECKING:  # its modules as attributes, imported on first use
    from ...common.lazy import submodule_getattr

    __getattr__ = submodule_getattr(__name__)
