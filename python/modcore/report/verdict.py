"""A result in words: is the network more modular than its shuffles, and what each
shuffle null keeps (and so controls for)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..method.curve import NcutCurve
    from ..method.significance import Significance

__all__ = [
    "ALPHA",
    "NULLS",
    "best_k_rule",
    "k_choice",
    "k_range_text",
    "null_description",
    "verdict",
    "verdict_over_k",
]

# The level of the one-sided test the verdicts state.
ALPHA = 0.05

# Per shuffle method: what the shuffled networks are, and what they keep of the network,
# i.e. what a network beating them cannot owe its low n-cut to.
NULLS = {
    "layer": (
        "all weights of each layer permuted, zeros included",
        "keeps the layer sizes and each layer's weight values, not which units are "
        "connected: a network can beat it by its pattern of connections alone",
    ),
    "layer_nonzero": (
        "the non-zero weights of each layer permuted among its non-zero positions",
        "keeps the layer sizes, the weight values and the sparsity pattern (which units "
        "are connected): beating it needs the strong weights themselves to sit within modules",
    ),
    "layer_nonzero_distribution": (
        "each layer's sparsity pattern kept, its non-zero weights drawn from a Gaussian "
        "KDE of them",
        "keeps the layer sizes, the sparsity pattern and a smoothed distribution of the "
        "weights: beating it needs the strong weights to sit within modules",
    ),
    "layer_all_distribution": (
        "each layer's non-zero positions scattered at random, its weights drawn from a "
        "Gaussian KDE of its non-zeros",
        "keeps the layer sizes and a smoothed distribution of the weights, not which "
        "units are connected",
    ),
}


def verdict(result: Significance | Mapping[str, Any], *, alpha: float = ALPHA) -> str:
    """One sentence: is the network more modular than its shuffled networks?

    The test is one-sided (a lower n-cut is more modular) at level ``alpha``:
    significant when ``p_value <= alpha`` (a Monte Carlo p-value, valid at that
    level). Otherwise the sentence says "not significantly", and why when the
    null is too small for any p-value to reach ``alpha``.

    Parameters
    ----------
    result : Significance or mapping
        A :class:`~modcore.Significance`, its ``to_dict()`` or a null of
        :func:`modcore.report.html.summary` (fields ``shuffle``, ``n_shuffles``,
        ``z_score``, ``p_value``).
    alpha : float, default=0.05
        Level of the test, in (0, 1).

    Returns
    -------
    str
        E.g. ``"more modular than 300 'layer' shuffles: z = -7.76, p = 0.0033"``.

    Raises
    ------
    ValueError
        If ``alpha`` is not in (0, 1).

    Examples
    --------
    >>> verdict({"shuffle": "layer", "n_shuffles": 300, "z_score": -7.76, "p_value": 1 / 301})
    "more modular than 300 'layer' shuffles: z = -7.76, p = 0.0033"
    >>> verdict({"shuffle": "layer", "n_shuffles": 300, "z_score": -1.5, "p_value": 0.063})
    "not significantly more modular than 300 'layer' shuffles: z = -1.50, p = 0.063"
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")

    def get(name: str) -> Any:
        return result[name] if isinstance(result, Mapping) else getattr(result, name)

    n, p = int(get("n_shuffles")), float(get("p_value"))
    z = float(get("z_score"))  # "inf" / "-inf" in JSON
    numbers = f"z = {z:.2f}, p = {p:.2g}"
    shuffles = f"{n} '{get('shuffle')}' shuffle{_plural(n)}"
    if p <= alpha:
        return f"more modular than {shuffles}: {numbers}"
    if z > 0:  # (a NaN z, from one shuffle, says nothing either way)
        text = f"not more modular than {shuffles} (its n-cut is above their mean): {numbers}"
    else:
        text = f"not significantly more modular than {shuffles}: {numbers}"
    stop_after = _optional(result, "stop_after")
    if stop_after is not None:
        # The sequential test stopped by design; its p-value is valid as it is.
        allowed = int(_optional(result, "max_shuffles") or n)
        if n < allowed:
            text += (
                f" (the sequential test stopped after {n} of {allowed} allowed shuffles, "
                f"once {stop_after} were at or below the network's n-cut, as designed)"
            )
        return text + _too_few(allowed, alpha)
    return text + _too_few(n, alpha)


def verdict_over_k(curve: NcutCurve | Mapping[str, Any], *, alpha: float = ALPHA) -> str:
    """One sentence: is the network more modular than its shuffles at some k of a range?

    The p-value is :attr:`modcore.NcutCurve.corrected_p_value`: corrected for
    choosing the k where the network looks most modular (its best k), by the
    min-p permutation test over the range, so it is valid at level ``alpha``
    however many k were tried. The sentence also gives the best k's uncorrected
    p-value, which is not.

    Parameters
    ----------
    curve : NcutCurve or mapping
        A :class:`~modcore.NcutCurve` or its ``to_dict()`` (as in ``summary.json``'s
        ``curves``).
    alpha : float, default=0.05
        Level of the test, in (0, 1).

    Returns
    -------
    str

    Raises
    ------
    ValueError
        If ``alpha`` is not in (0, 1).

    Examples
    --------
    >>> row = {"n_clusters": 3, "n_shuffles": 99, "shuffle": "layer", "p_value": 0.01}
    >>> curve = {"ks": [2, 3, 4], "best_k": 3, "corrected_p_value": 0.03, "per_k": [row]}
    >>> for part in verdict_over_k(curve).split(": "):
    ...     print(part)
    more modular than 99 'layer' shuffles at some k of 2..4
    p = 0.03 corrected for choosing k (best k = 3, where uncorrected p = 0.01)
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    d = curve if isinstance(curve, Mapping) else curve.to_dict()
    best = next(r for r in d["per_k"] if r["n_clusters"] == d["best_k"])
    n, p = int(best["n_shuffles"]), float(d["corrected_p_value"])
    shuffles = f"{n} '{best['shuffle']}' shuffle{_plural(n)}"
    numbers = (
        f"p = {p:.2g} corrected for choosing k (best k = {d['best_k']}, where "
        f"uncorrected p = {float(best['p_value']):.2g})"
    )
    where = k_range_text(d["ks"])
    if p <= alpha:
        return f"more modular than {shuffles} at some k of {where}: {numbers}"
    return f"not significantly more modular than {shuffles} at any k of {where}: {numbers}" + (
        _too_few(n, alpha)
    )


def k_choice(results: Mapping[str, Any]) -> str:
    """How the k of a run's details was chosen, in one sentence.

    Parameters
    ----------
    results : mapping
        :func:`modcore.report.html.summary`'s dict: ``n_clusters`` and, when present,
        ``eigengap`` (``--n-clusters auto``) and ``curves`` (a range of k).

    Returns
    -------
    str

    Examples
    --------
    >>> k_choice({"n_clusters": 12})
    'k = 12 was given'
    """
    k = results["n_clusters"]
    gap = results.get("eigengap")
    if gap is not None and gap["k"] == k:
        text = (
            f"k = {k} is the eigengap's suggestion, read off the network's spectrum "
            "against its shuffles' spectra, before any n-cut was compared"
        )
        if not gap["clear"]:
            text += " (its gap does not stand out, so this k is arbitrary)"
        return text + "; the verdicts at its neighbours show how much the result depends on it"
    curves = results.get("curves") or {}
    if curves:
        name, curve = next(iter(curves.items()))
        if curve["best_k"] == k:
            rows = curve.get("per_k") or []
            rule = best_k_rule(name, [r["p_value"] for r in rows], [r["z_score"] for r in rows])
            return (
                f"k = {k} is the k of {k_range_text(curve['ks'])} with {rule}; "
                "the verdict over k is corrected for that choice"
            )
    return f"k = {k} was given"


def best_k_rule(name: str, p_values, z_scores) -> str:
    """How :attr:`modcore.NcutCurve.best_k` chose among the ks, in words true of these
    values: by p-value, ties by z where z is defined (it is not when the shuffles' n-cuts
    do not spread, one shuffle among them), then by the smallest k.

    Examples
    --------
    >>> best_k_rule("layer", [0.5, 0.5], [float("nan"), None])
    "the smallest k: every k has the same uncorrected p-value against the 'layer' null and no z (its shuffles' n-cuts do not spread)"
    """  # noqa: E501
    # Values as computed, or as a results dict spells them (None, or "nan" as a string).
    p = [float("nan") if v is None else float(v) for v in p_values]
    undefined = all(v is None or float(v) != float(v) for v in z_scores)
    if not undefined:
        return (
            f"the lowest uncorrected p-value against the '{name}' null (ties: lowest z, "
            "then smallest k)"
        )
    # NaN != NaN, so a set would count each undefined p-value as a value of its own.
    if len({"nan" if v != v else v for v in p}) <= 1:
        return (
            f"the smallest k: every k has the same uncorrected p-value against the '{name}' "
            "null and no z (its shuffles' n-cuts do not spread)"
        )
    return (
        f"the lowest uncorrected p-value against the '{name}' null (z is undefined at every "
        "k, its shuffles' n-cuts not spreading; ties: smallest k)"
    )


def k_range_text(ks) -> str:
    """``2..8`` for consecutive k, else ``{2, 4, 8}``."""
    ks = [int(k) for k in ks]
    if len(ks) > 2 and ks == list(range(ks[0], ks[-1] + 1)):
        return f"{ks[0]}..{ks[-1]}"
    return "{" + ", ".join(map(str, ks)) + "}"


def _plural(n: int) -> str:
    return "s" if n != 1 else ""


def _optional(result, name: str):
    if isinstance(result, Mapping):
        return result.get(name)
    return getattr(result, name, None)


def _too_few(n: int, alpha: float) -> str:
    """The note for a null too small for any p-value to reach alpha ("" otherwise)."""
    smallest = 1 / (n + 1)
    if smallest <= alpha:
        return ""
    return f" (with {n} shuffle{_plural(n)} p cannot go below {smallest:.2g}: use more)"


def null_description(shuffle: str) -> str:
    """What the shuffled networks of a null are, and what that null controls for.

    Parameters
    ----------
    shuffle : str
        One of :data:`modcore.SHUFFLES`.

    Returns
    -------
    str
        One sentence.

    Raises
    ------
    ValueError
        If ``shuffle`` is not a known shuffle method.

    Examples
    --------
    >>> null_description("layer").startswith("'layer' null: all weights of each layer permuted")
    True
    """
    if shuffle not in NULLS:
        raise ValueError(f"shuffle must be one of {tuple(NULLS)}, got {shuffle!r}")
    what, keeps = NULLS[shuffle]
    return f"'{shuffle}' null: {what}; it {keeps}."
