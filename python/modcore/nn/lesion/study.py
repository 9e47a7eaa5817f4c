"""The lesion study: single lesions of every sub-module, network-level tests, then
pairs (joint and conditional double lesions)."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from torch import nn

from ...common.progress import Progress
from ...common.types import ProgressLike, SeedLike
from ...common.warn import warn_user
from ...method.cluster import Clustering, spectral_cluster
from ...method.settings import ClusterSettings, takes_settings
from ...method.significance import null_stats
from ...network.checks import check_positive_int, check_seed
from ...network.torch.trace import PRESETS, network_from_module
from ...network.transformer import view_network
from ..datasets import Dataset, examples_of
from .double import PAIR_SETS, double_study
from .evaluate import (
    _check_targets,
    _eval_mode,
    _evaluate,
    _example,
    _plain_counts,
    _units_for_data,
    class_accuracy,
)
from .masks import MAX_RANDOM_LESIONS, _draw, sub_modules
from .network_level import network_tests
from .results import LesionStudy, SubModuleLesion
from .rules import check_rule, count_p_value, paper_category
from .transformer import TransformerUnits, transformer_units
from .units import LesionUnits

__all__ = ["ALPHA", "MIN_DROP", "lesion_study"]

ALPHA = 0.05
MIN_DROP = 0.01


@takes_settings
def lesion_study(
    model: nn.Module,
    data: Dataset | tuple[Any, Any],
    *,
    settings: ClusterSettings | None = None,
    n_clusters: int = 12,
    random_lesions: int = 50,
    seed: SeedLike = None,
    rule: str = "bonferroni",
    double: bool = True,
    pair_set: str = "important",
    progress: ProgressLike = None,
    clustering: Clustering | Sequence[np.ndarray] | None = None,
    preset: str | None = None,
    alpha: float = ALPHA,
    min_drop: float = MIN_DROP,
    adaptive: bool = True,
    max_random_lesions: int | None = None,
    n_init: int = 10,
    n_jobs: int | None = None,
    view: str | None = None,
) -> LesionStudy:
    """Lesion every sub-module of a trained network; then pairs of sub-modules.

    See the module docstring (:mod:`modcore.nn.lesion`) for the method and the
    exact definitions.

    Parameters
    ----------
    model : torch.nn.Module
        An MLP or a CNN (e.g. :class:`modcore.nn.MLP`, :class:`modcore.nn.CNN`
        or a loaded checkpoint's model), or any classifier
        :func:`modcore.network.torch.trace.network_from_module` reads. Its groups of units
        are the Linear layers' neurons and the convolutions' channels; an
        ``nn.Sequential`` is evaluated fastest (the layers before a lesion run
        once). Evaluated in eval mode; its mode is restored and its weights are
        never changed.
    data : Dataset or (x, y)
        A :class:`modcore.nn.Dataset` (the test split is used) or test inputs
        ``(n, *input_shape)`` (flat for an MLP, images for a CNN) and integer
        labels ``(n,)``.
    CLUSTER_SETTINGS_FIELDS
    random_lesions : int, default 50
        Random lesions R per sub-module (and random pairs per pair).
    seed : None, int or numpy.random.Generator, default None
        Seeds the clustering and every random lesion: same seed, same study.
        Sub-module (l, m) draws from its own stream ``(seed, l, m)``. None draws
        a fresh seed; the one used is ``LesionStudy.seed``.
    rule : {"bonferroni", "paper"}, default "bonferroni"
        How importance is decided. "bonferroni": drop >= ``min_drop`` and
        ``p < alpha / m`` over the m sub-modules with such a drop, ties counting
        against the sub-module, candidates topped up with random lesions
        (``adaptive``). "paper": the authors' rule, with ``random_lesions`` for
        every sub-module: no random lesion strictly more harmful (``p < 1/R``),
        drop >= ``min_drop``, more than 12 units and not all of the layer's live
        units; each sub-module also gets the authors' category.
    double : bool, default True
        Also run the double-lesion study.
    pair_set : {"important", "all"}, default "important"
        The pairs lesioned together, always in different layers: those of
        important sub-modules, or all. Each pair costs ``1 + 3 R`` lesions (the
        pair, R random pairs, and R random lesions of either side with the other
        kept); "all" is quadratic in the sub-modules (about 1,200 pairs for a
        784-256x4 MLP at k = 12).
    progress : None, bool or callable, default None
        Count evaluated lesions on stderr: None when stderr is a terminal, True /
        False to force; a callable gets ``(done, total)`` (the total grows as
        stages add lesions).
    clustering : Clustering or list of int arrays, optional
        Use these modules instead of clustering the network (``settings`` and
        ``n_clusters``, ``n_init`` are then not read). A Clustering of
        the traced network is matched by group name (groups it left out have
        no sub-modules); a list needs one label array per group.
    preset : {"paper_cnn"} or None, default None
        When clustering here: the groups clustered, as in
        :func:`modcore.network.torch.trace.network_from_module` ("paper_cnn": convolution
        channels only, as the 2021 paper; only they are then lesioned).
    alpha : float, default 0.05
        Family-wise level of rule "bonferroni".
    min_drop : float, default 0.01
        Smallest accuracy drop (fraction: 0.01 = 1 percentage point) for a
        sub-module to be important (and, for the conditional test, the smallest
        extra damage).
    adaptive : bool, default True
        Rule "bonferroni": top up the tested sub-modules that can still be
        significant with more random lesions, up to ``max_random_lesions``.
    max_random_lesions : int, optional
        Ceiling of the top-up, at most ``MAX_RANDOM_LESIONS`` (100,000); default
        ``floor(n_tested / alpha)``, the fewest that let a p-value pass
        ``alpha / n_tested``, within that bound.
    n_jobs
        Threads of :func:`modcore.spectral_cluster`.
    view : {"blocks", "virtual"} or None, default None
        For a transformer (required there): the modules are those of
        :func:`modcore.spectral_cluster` with this view (``clustering`` may be its
        result, a Clustering or ``{MLP name: Clustering}``), and only their MLP neurons
        are lesioned, by hooks where each MLP's output projection reads them
        (:mod:`modcore.nn.lesion.transformer`; heads, tokens and logits are left out).
        ``data`` is then ``(x, y)`` with a label per output position (the output, or
        its ``.logits``, without its last dimension), negative where not scored.

    Returns
    -------
    LesionStudy

    Raises
    ------
    ValueError
        If the model has no hidden group, the data do not fit it, the labels do
        not match its groups, or a parameter is out of range.
    TypeError
        If ``model`` or ``data`` is of the wrong type.

    Examples
    --------
    >>> import torch
    >>> from modcore.nn import MLP
    >>> model = MLP([6, 8, 8, 3], seed=0)
    >>> x, y = torch.rand(64, 6), torch.randint(0, 3, (64,))
    >>> study = lesion_study(model, (x, y), n_clusters=2, random_lesions=5, progress=False)
    >>> study.n_test
    64
    """
    started = time.perf_counter()
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if view is None:
        view_network(model, None)  # a transformer is refused, asking for a view
        x, y = examples_of(data)
        units: LesionUnits | TransformerUnits = _units_for_data(model, x)
    else:
        units, x, y = transformer_units(model, data, view)
    n_classes = _check_targets(y, units)
    r = check_positive_int(random_lesions, "random_lesions", maximum=MAX_RANDOM_LESIONS)
    rule = check_rule(rule)
    if pair_set not in PAIR_SETS:
        raise ValueError(f"pair_set must be one of {PAIR_SETS}, got {pair_set!r}")
    if preset is not None and preset not in PRESETS:
        raise ValueError(f"preset must be None or one of {sorted(PRESETS)}, got {preset!r}")
    if not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if not isinstance(min_drop, (int, float)) or not 0 <= min_drop <= 1:
        raise ValueError(f"min_drop must be in [0, 1] (a fraction of accuracy), got {min_drop!r}")
    if max_random_lesions is not None:
        check_positive_int(max_random_lesions, "max_random_lesions", maximum=MAX_RANDOM_LESIONS)
    seed = check_seed(seed)
    seconds = {}

    ncut = None
    if clustering is None:
        t = time.perf_counter()
        if view is None:
            network = network_from_module(model, example_input=_example(x), preset=preset)
            clustering = spectral_cluster(network, settings=settings, seed=seed, n_jobs=n_jobs)
        else:
            clustering = spectral_cluster(
                model, settings=settings, seed=seed, n_jobs=n_jobs, view=view
            )
        seconds["clustering"] = time.perf_counter() - t
    if isinstance(clustering, Clustering):
        ncut, n_clusters = clustering.ncut, clustering.n_clusters
    labels = units.check_labels(clustering)
    if not isinstance(clustering, Clustering):
        n_clusters = int(max((lab.max(initial=-1) for lab in labels), default=-1)) + 1
    subs = sub_modules(labels, groups=units.hidden)
    if not subs:
        raise ValueError("no hidden unit belongs to a module: nothing to lesion")
    class_sizes = np.bincount(y.numpy(), minlength=n_classes)

    with _eval_mode(model), Progress(0, "lesion study", progress, unit="lesions") as reporter:
        base = _plain_counts(model, units, x, y, n_classes)
        t = time.perf_counter()
        single, info = _single_study(
            model,
            units,
            x,
            y,
            labels,
            subs,
            base,
            class_sizes,
            r,
            seed,
            rule,
            alpha,
            min_drop,
            adaptive,
            max_random_lesions,
            reporter,
        )
        seconds["single"] = time.perf_counter() - t - info["top_up_seconds"]
        seconds["top_up"] = info["top_up_seconds"]
        tests = network_tests(
            class_accuracy(base, class_sizes),
            np.array([s.class_accuracy for s in single]),
            np.array([s.random_class_accuracy[:r] for s in single]),
        )
        pairs = double_study(
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
            run=double,
        )
        seconds["double"] = pairs.seconds
    seconds["total"] = time.perf_counter() - started
    return LesionStudy(
        base_accuracy=int(base.sum()) / len(y),
        base_class_accuracy=class_accuracy(base, class_sizes),
        class_sizes=class_sizes,
        n_test=len(y),
        layer_sizes=list(units.sizes),
        group_names=list(units.names),
        unit_kinds=[units.noun(g) for g in range(len(units.names))],
        labels=labels,
        ncut=ncut,
        n_clusters=int(n_clusters),
        seed=seed,
        random_lesions=r,
        rule=rule,
        alpha=float(alpha),
        min_drop=float(min_drop),
        adaptive=bool(adaptive),
        max_random_lesions=info["max_random"],
        n_tested=info["n_tested"],
        threshold=info["threshold"],
        single=single,
        network_tests=tests,
        pairs=pairs.pairs,
        pair_set=pair_set,
        dependency=pairs.interaction,
        conditional=pairs.conditional,
        conditional_important=pairs.conditional_important,
        dependency_index=pairs.index,
        double=bool(double),
        seconds=seconds,
        n_masks={"single": info["n_masks"], "double": pairs.n_masks},
    )


def _single_study(
    model,
    units,
    x,
    y,
    labels,
    subs,
    base,
    class_sizes,
    r,
    seed,
    rule,
    alpha,
    min_drop,
    adaptive,
    max_random,
    reporter,
):
    n = len(y)
    n_classes = len(base)
    base_total = int(base.sum())
    paper = rule == "paper"
    pools = {g: np.flatnonzero(labels[g] >= 0) for g in units.hidden}
    rngs = [np.random.default_rng([seed, s.layer, s.module]) for s in subs]
    drawn = [_draw(rng, pools[s.layer], s.size, r) for rng, s in zip(rngs, subs)]
    n_masks = 0

    # Stage 1: each sub-module and its R random lesions, one batch per layer.
    lesions = []
    for s, rand in zip(subs, drawn):
        lesions.append({s.layer: s.neurons})
        lesions += [{s.layer: row} for row in rand]
    reporter.add(len(lesions), "single lesions")
    counts = _evaluate(model, units, x, y, lesions, n_classes, reporter)
    n_masks += len(lesions)
    true_counts, rand_counts = [], []  # per-class correct counts
    for i in range(len(subs)):
        block = counts[i * (r + 1) : (i + 1) * (r + 1)]
        true_counts.append(block[0])
        rand_counts.append(block[1:])

    def total(i):
        return int(true_counts[i].sum())

    # Drops are compared as integer counts: random drop >= drop <=> count <= true count.
    drops = [(base_total - total(i)) / n for i in range(len(subs))]
    tested = [d >= min_drop - 1e-12 for d in drops]
    n_tested = int(sum(tested))
    if paper:
        threshold, needed, target = 1 / r, r, r
    else:
        threshold = alpha / n_tested if n_tested else alpha
        needed = r
        if n_tested:  # the fewest R with 1 / (R + 1) < alpha / m, robust to rounding of m / alpha
            needed = max(1, math.floor(n_tested / alpha) - 1)
            while 1 / (needed + 1) >= threshold:
                needed += 1
        # A tiny alpha must not size an allocation beyond what a study can evaluate.
        target = max(r, min(needed, MAX_RANDOM_LESIONS) if max_random is None else max_random)
        if not adaptive:
            target = r
        if n_tested and 1 / (target + 1) >= threshold:
            warn_user(
                f"{target} random lesions per sub-module cannot give a p-value below "
                f"alpha / n_tested = {alpha:g}/{n_tested}: no sub-module can be important; "
                f"use adaptive=True or at least {needed} random lesions",
            )

    def exceed(i):
        return int((rand_counts[i].sum(axis=1) <= total(i)).sum())

    def hopeful(i):
        return tested[i] and (1 + exceed(i)) / (target + 1) < threshold

    # Stage 2 (rule "bonferroni"): top up the candidates, the random count growing
    # 4-fold per round.
    stage_one = time.perf_counter()
    while True:
        live = [i for i in range(len(subs)) if hopeful(i) and len(rand_counts[i]) < target]
        if not live:
            break
        lesions, spans = [], []
        for i in live:
            have = len(rand_counts[i])
            more = _draw(rngs[i], pools[subs[i].layer], subs[i].size, min(target, 4 * have) - have)
            drawn[i] = np.concatenate([drawn[i], more])
            spans.append((i, len(lesions), len(more)))
            lesions += [{subs[i].layer: row} for row in more]
        reporter.add(len(lesions), "top-up of candidates")
        counts = _evaluate(model, units, x, y, lesions, n_classes, reporter)
        n_masks += len(lesions)
        for i, start, size in spans:
            rand_counts[i] = np.concatenate([rand_counts[i], counts[start : start + size]])

    results = []
    for i, s in enumerate(subs):
        rand_totals = rand_counts[i].sum(axis=1)
        rand_drops = (base_total - rand_totals) / n
        mean, std, z = null_stats(drops[i], rand_drops)
        p = count_p_value(total(i), rand_totals, ties_count_against=not paper)
        category = None
        if paper:
            category = paper_category(
                drop=drops[i],
                n_harmful=int((rand_totals < total(i)).sum()),
                n_random=r,
                size=s.size,
                live=len(pools[s.layer]),
                min_drop=min_drop,
            )
        results.append(
            SubModuleLesion(
                layer=s.layer,
                module=s.module,
                size=s.size,
                group=units.names[s.layer],
                neurons=s.neurons,
                accuracy=total(i) / n,
                drop=drops[i],
                class_accuracy=class_accuracy(true_counts[i], class_sizes),
                random_drops=rand_drops,
                random_class_accuracy=class_accuracy(rand_counts[i], class_sizes),
                random_neurons=drawn[i],
                random_mean=mean,
                random_std=std,
                z_score=z,
                p_value=p,
                tested=bool(tested[i]),
                important=(category == "important") if paper else bool(tested[i] and p < threshold),
                category=category,
            )
        )
    info = {
        "n_tested": n_tested,
        "threshold": threshold,
        "max_random": int(target),
        "n_masks": n_masks,
        "top_up_seconds": time.perf_counter() - stage_one,
    }
    return results, info
