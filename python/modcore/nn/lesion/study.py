"""The lesion study: single lesions of every sub-module, then pairs of the important ones."""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
from torch import nn

from ...cluster import Clustering, spectral_cluster
from ...io import check_positive_int, check_seed
from ...progress import Progress
from ...significance import null_stats
from ...weights import weights_from_module
from .evaluate import _eval_mode, _evaluate, _plain_counts, _test_data
from .masks import _check_labels, _draw, _network_widths, sub_modules
from .results import LesionStudy, PairLesion, SubModuleLesion

__all__ = ["ALPHA", "MIN_DROP", "lesion_study"]

ALPHA = 0.05
MIN_DROP = 0.01


def lesion_study(
    model: nn.Module,
    data,
    *,
    n_clusters: int = 12,
    random_lesions: int = 50,
    seed=None,
    double: bool = True,
    progress=None,
    clustering=None,
    alpha: float = ALPHA,
    min_drop: float = MIN_DROP,
    adaptive: bool = True,
    max_random_lesions: int | None = None,
    n_init: int = 10,
    n_jobs=None,
) -> LesionStudy:
    """Lesion every sub-module of a trained MLP; then pairs of the important ones.

    See the module docstring (:mod:`modcore.nn.lesion`) for the method and the
    exact definitions.

    Parameters
    ----------
    model : torch.nn.Module
        An MLP (e.g. :class:`modcore.nn.MLP` or a loaded checkpoint's model). Its
        Linear layers must chain; an ``nn.Sequential`` is evaluated fastest (the
        layers before a lesion run once). Evaluated in eval mode; its mode is
        restored and its weights are never changed.
    data : Dataset or (x, y)
        A :class:`modcore.nn.Dataset` (the test split is used) or test inputs
        ``(n, n_features)`` and integer labels ``(n,)``.
    n_clusters : int, default 12
        Modules k of the clustering (ignored when ``clustering`` is given).
    random_lesions : int, default 50
        Random lesions R per sub-module (and random pairs per pair).
    seed : None, int or numpy.random.Generator, default None
        Seeds the clustering and every random lesion: same seed, same study.
        Sub-module (l, m) draws from its own stream ``(seed, l, m)``. None draws
        a fresh seed; the one used is ``LesionStudy.seed``.
    double : bool, default True
        Also run the double-lesion study of the important sub-modules.
    progress : None, bool or callable, default None
        Count evaluated lesions on stderr: None when stderr is a terminal, True /
        False to force; a callable gets ``(done, total)`` (the total grows as
        stages add lesions).
    clustering : Clustering or list of int arrays, optional
        Use these modules instead of clustering the network.
    alpha : float, default 0.05
        Family-wise level; Bonferroni over the tested sub-modules.
    min_drop : float, default 0.01
        Smallest accuracy drop (fraction: 0.01 = 1 percentage point) for a
        sub-module to be tested, hence to be important.
    adaptive : bool, default True
        Top up the tested sub-modules that can still be significant with more
        random lesions, up to ``max_random_lesions``.
    max_random_lesions : int, optional
        Ceiling of the top-up; default ``floor(n_tested / alpha)``, the fewest
        that let a p-value pass ``alpha / n_tested``.
    n_init, n_jobs
        For :func:`modcore.spectral_cluster`.

    Returns
    -------
    LesionStudy

    Raises
    ------
    ValueError
        If the model has no hidden layer, the data do not fit it, the labels do
        not match its layer sizes, or a parameter is out of range.
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
    widths = _network_widths(model)
    x, y = _test_data(data)
    if x.shape[1] != widths[0]:
        raise ValueError(f"data has {x.shape[1]} features but the network takes {widths[0]} inputs")
    if int(y.min()) < 0 or int(y.max()) >= widths[-1]:
        raise ValueError(
            f"labels must be in 0..{widths[-1] - 1} (the network has {widths[-1]} outputs), "
            f"got {int(y.min())}..{int(y.max())}"
        )
    r = check_positive_int(random_lesions, "random_lesions")
    if not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if not isinstance(min_drop, (int, float)) or not 0 <= min_drop <= 1:
        raise ValueError(f"min_drop must be in [0, 1] (a fraction of accuracy), got {min_drop!r}")
    if max_random_lesions is not None:
        check_positive_int(max_random_lesions, "max_random_lesions")
    seed = check_seed(seed)
    seconds = {}

    ncut = None
    if clustering is None:
        n_clusters = check_positive_int(n_clusters, "n_clusters", minimum=2)
        t = time.perf_counter()
        found = spectral_cluster(weights_from_module(model), n_clusters=n_clusters,
                                 n_init=n_init, seed=seed, n_jobs=n_jobs)
        seconds["clustering"] = time.perf_counter() - t
        labels, ncut = found.labels, found.ncut
    else:
        if isinstance(clustering, Clustering):
            ncut, n_clusters = clustering.ncut, clustering.n_clusters
        labels = _check_labels(clustering, widths)
        if not isinstance(clustering, Clustering):
            n_clusters = int(max((lab.max(initial=-1) for lab in labels), default=-1)) + 1
    labels = _check_labels(labels, widths)
    subs = sub_modules(labels)
    if not subs:
        raise ValueError("no hidden neuron belongs to a module: nothing to lesion")

    with _eval_mode(model), Progress(0, "lesion study", progress, unit="lesions") as reporter:
        base = _plain_counts(model, x, y)
        t = time.perf_counter()
        single, info = _single_study(model, x, y, widths, labels, subs, base, r, seed, alpha,
                                     min_drop, adaptive, max_random_lesions, reporter)
        seconds["single"] = time.perf_counter() - t - info["top_up_seconds"]
        seconds["top_up"] = info["top_up_seconds"]
        pairs, dependency, index = [], np.zeros((0, 0)), []
        n_pair_masks = 0
        if double:
            t = time.perf_counter()
            pairs, dependency, index, n_pair_masks = _double_study(
                model, x, y, widths, single, base, r, reporter)
            seconds["double"] = time.perf_counter() - t
    seconds["total"] = time.perf_counter() - started
    return LesionStudy(
        base_accuracy=base / len(y),
        n_test=len(y),
        layer_sizes=widths,
        labels=labels,
        ncut=ncut,
        n_clusters=int(n_clusters),
        seed=seed,
        random_lesions=r,
        alpha=float(alpha),
        min_drop=float(min_drop),
        adaptive=bool(adaptive),
        max_random_lesions=info["max_random"],
        n_tested=info["n_tested"],
        threshold=info["threshold"],
        single=single,
        pairs=pairs,
        dependency=dependency,
        dependency_index=index,
        double=bool(double),
        seconds=seconds,
        n_masks={"single": info["n_masks"], "double": n_pair_masks},
    )


def _single_study(model, x, y, widths, labels, subs, base, r, seed, alpha, min_drop, adaptive,
                  max_random, reporter):
    n = len(y)
    pools = {l: np.flatnonzero(labels[l] >= 0) for l in range(1, len(widths) - 1)}
    rngs = [np.random.default_rng([seed, s.layer, s.module]) for s in subs]
    drawn = [_draw(rng, pools[s.layer], s.size, r) for rng, s in zip(rngs, subs)]
    n_masks = 0

    # Stage 1: each sub-module and its R random lesions, one batch per layer.
    lesions = []
    for s, rand in zip(subs, drawn):
        lesions.append({s.layer: s.neurons})
        lesions += [{s.layer: row} for row in rand]
    reporter.add(len(lesions), "single lesions")
    counts = _evaluate(model, x, y, lesions, widths, reporter)
    n_masks += len(lesions)
    true_counts, rand_counts = [], []
    for i in range(len(subs)):
        block = counts[i * (r + 1) : (i + 1) * (r + 1)]
        true_counts.append(int(block[0]))
        rand_counts.append(block[1:])

    # Drops are compared as integer counts: random drop >= drop <=> count <= true count.
    drops = [(base - c) / n for c in true_counts]
    tested = [d >= min_drop - 1e-12 for d in drops]
    n_tested = int(sum(tested))
    threshold = alpha / n_tested if n_tested else alpha
    needed = r
    if n_tested:  # the fewest R with 1 / (R + 1) < alpha / m, robust to rounding of m / alpha
        needed = max(1, math.floor(n_tested / alpha) - 1)
        while 1 / (needed + 1) >= threshold:
            needed += 1
    target = max(r, needed if max_random is None else max_random)
    if not adaptive:
        target = r
    if n_tested and 1 / (target + 1) >= threshold:
        warnings.warn(
            f"{target} random lesions per sub-module cannot give a p-value below "
            f"alpha / n_tested = {alpha:g}/{n_tested}: no sub-module can be important; "
            f"use adaptive=True or at least {needed} random lesions",
            stacklevel=3,
        )

    def exceed(i):
        return int((rand_counts[i] <= true_counts[i]).sum())

    def hopeful(i):
        return tested[i] and (1 + exceed(i)) / (target + 1) < threshold

    # Stage 2: top up the candidates, the random count growing 4-fold per round.
    stage_one = time.perf_counter()
    while True:
        live = [i for i in range(len(subs)) if hopeful(i) and len(rand_counts[i]) < target]
        if not live:
            break
        lesions, spans = [], []
        for i in live:
            have = len(rand_counts[i])
            more = _draw(rngs[i], pools[subs[i].layer], subs[i].size,
                         min(target, 4 * have) - have)
            drawn[i] = np.concatenate([drawn[i], more])
            spans.append((i, len(lesions), len(more)))
            lesions += [{subs[i].layer: row} for row in more]
        reporter.add(len(lesions), "top-up of candidates")
        counts = _evaluate(model, x, y, lesions, widths, reporter)
        n_masks += len(lesions)
        for i, start, size in spans:
            rand_counts[i] = np.concatenate([rand_counts[i], counts[start : start + size]])

    results = []
    for i, s in enumerate(subs):
        rand_drops = (base - rand_counts[i]) / n
        mean, std, z = null_stats(drops[i], rand_drops)
        p = (1 + exceed(i)) / (len(rand_drops) + 1)
        results.append(SubModuleLesion(
            layer=s.layer, module=s.module, size=s.size, neurons=s.neurons,
            accuracy=true_counts[i] / n, drop=drops[i], random_drops=rand_drops,
            random_neurons=drawn[i], random_mean=mean, random_std=std, z_score=z,
            p_value=p, tested=bool(tested[i]), important=bool(tested[i] and p < threshold),
        ))
    info = {"n_tested": n_tested, "threshold": threshold, "max_random": int(target),
            "n_masks": n_masks, "top_up_seconds": time.perf_counter() - stage_one}
    return results, info


def _double_study(model, x, y, widths, single, base, r, reporter):
    n = len(y)
    index = [i for i, s in enumerate(single) if s.important]
    pairs_idx = [(a, b) for a in index for b in index if single[a].layer < single[b].layer]
    lesions = []
    for a, b in pairs_idx:
        sa, sb = single[a], single[b]
        lesions.append({sa.layer: sa.neurons, sb.layer: sb.neurons})
        lesions += [{sa.layer: sa.random_neurons[k], sb.layer: sb.random_neurons[k]}
                    for k in range(r)]
    counts = np.zeros(0, dtype=np.int64)
    if lesions:
        reporter.add(len(lesions), "double lesions")
        counts = _evaluate(model, x, y, lesions, widths, reporter)
    pairs = []
    dependency = np.full((len(index), len(index)), np.nan)
    pos = {i: k for k, i in enumerate(index)}
    for j, (a, b) in enumerate(pairs_idx):
        sa, sb = single[a], single[b]
        block = counts[j * (r + 1) : (j + 1) * (r + 1)]
        joint = (base - int(block[0])) / n
        rand_joint = (base - block[1:]) / n
        rand_inter = rand_joint - (sa.random_drops[:r] + sb.random_drops[:r])
        additive = sa.drop + sb.drop
        inter = joint - additive
        _, _, joint_z = null_stats(joint, rand_joint)
        joint_p = (1 + int((block[1:] <= block[0]).sum())) / (r + 1)
        mean_i, _, inter_z = null_stats(inter, rand_inter)
        # A tolerance of half a test example: values are multiples of 1/n up to rounding.
        far = np.abs(rand_inter - mean_i) >= abs(inter - mean_i) - 0.5 / n
        inter_p = (1 + int(far.sum())) / (r + 1)
        pairs.append(PairLesion(
            a=a, b=b, name_a=sa.name, name_b=sb.name, joint_drop=joint, additive=additive,
            interaction=inter, random_joint_drops=rand_joint, random_interactions=rand_inter,
            joint_z=joint_z, joint_p=joint_p, interaction_z=inter_z, interaction_p=inter_p,
        ))
        dependency[pos[a], pos[b]] = dependency[pos[b], pos[a]] = inter
    return pairs, dependency, index, len(lesions)
