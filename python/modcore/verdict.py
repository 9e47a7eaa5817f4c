"""A result in words: is the network more modular than its shuffles, and what each
shuffle null keeps (and so controls for)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .significance import Significance

__all__ = ["ALPHA", "NULLS", "verdict", "null_description"]

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
        :func:`modcore.report.summary` (fields ``shuffle``, ``n_shuffles``,
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
    plural = "s" if n != 1 else ""
    shuffles = f"{n} '{get('shuffle')}' shuffle{plural}"
    if p <= alpha:
        return f"more modular than {shuffles}: {numbers}"
    if z > 0:  # (a NaN z, from one shuffle, says nothing either way)
        text = f"not more modular than {shuffles} (its n-cut is above their mean): {numbers}"
    else:
        text = f"not significantly more modular than {shuffles}: {numbers}"
    smallest = 1 / (n + 1)
    if smallest > alpha:
        text += f" (with {n} shuffle{plural} p cannot go below {smallest:.2g}: use more)"
    return text


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
