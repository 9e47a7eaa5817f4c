"""The functional-modules part of a report: its numbers, its figure (drawn like
:mod:`modcore.report.plot`'s, with matplotlib on the Agg canvas) and its HTML section, in the
weight report (:func:`modcore.report.html.write_report`) or a page of its own
(:func:`write_functional_report`, ``modcore functional --report``)."""

from __future__ import annotations

import html
import math
from pathlib import Path

import numpy as np

from ..functional.comparison import ModuleComparison, matched_units, weight_clustering
from ..functional.modules import FunctionalModules
from ..network.checks import check_positive_int

__all__ = ["coactivation_matrix", "functional_summary", "write_functional_report"]

FIGURE = "coactivation.png"


def check_results(functional, comparison, weight_modules):
    """The weight Clustering, after checking that ``comparison`` compares these two."""
    weight = weight_clustering(functional, weight_modules)
    if not isinstance(comparison, ModuleComparison):
        raise TypeError(
            f"comparison must be a ModuleComparison (from modcore.compare_modules), got "
            f"{type(comparison).__name__}"
        )
    names, nodes, _, _ = matched_units(functional, weight)
    if names != comparison.group_names or nodes.size != comparison.n_units:
        raise ValueError(
            f"comparison is not of these results: it compares {comparison.n_units} units of "
            f"{list(comparison.group_names)}, these share {nodes.size} units of {list(names)}"
        )
    return weight


def entries(functional: FunctionalModules, comparison: ModuleComparison) -> dict:
    """The functional results as plain values, for a summary.json."""
    return {"functional": functional.to_dict(), "comparison": comparison.to_dict()}


def functional_summary(functional, comparison, weight_modules, extra: dict | None = None) -> dict:
    """Functional modules and their comparison with the weight modules, as plain values.

    Parameters
    ----------
    functional : FunctionalModules
        From :func:`modcore.functional_modules`.
    comparison : ModuleComparison
        From :func:`modcore.compare_modules` of ``functional`` and ``weight_modules``.
    weight_modules : Clustering or Significance
        The weight modules compared.
    extra : dict, optional
        Plain values to keep with the results (command, data set); its keys come first.

    Returns
    -------
    dict
        ``extra``'s entries, then ``versions``, ``functional``
        (:meth:`FunctionalModules.to_dict`), ``comparison``
        (:meth:`ModuleComparison.to_dict`) and ``weight`` (its n-cut, group names
        and labels).

    Raises
    ------
    TypeError
        If the inputs are not these results.
    ValueError
        If ``comparison`` compares other units than these results share.

    Examples
    --------
    >>> import torch, modcore
    >>> from torch import nn
    >>> from modcore.report.functional import functional_summary
    >>> model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 4))
    >>> x = torch.randn(200, 6, generator=torch.Generator().manual_seed(0))
    >>> fm = modcore.functional_modules(model, x, n_clusters=2, n_shuffles=0, seed=0)
    >>> weight = modcore.spectral_cluster(model, n_clusters=2, seed=0)
    >>> cmp = modcore.compare_modules(fm, weight, n_permutations=9, seed=0)
    >>> list(functional_summary(fm, cmp, weight))
    ['versions', 'functional', 'comparison', 'weight']
    """
    from .page import versions

    weight = check_results(functional, comparison, weight_modules)
    return {
        **(extra or {}),
        "versions": versions(),
        **entries(functional, comparison),
        "weight": {
            "ncut": weight.ncut,
            "group_names": list(weight.group_names),
            "labels": [lab.tolist() for lab in weight.labels],
        },
    }


def write_functional_report(
    out_dir, functional, comparison, weight_modules, extra: dict | None = None
) -> Path:
    """Write ``summary.json``, the coactivation figure and ``index.html`` into ``out_dir``.

    Parameters
    ----------
    out_dir : str or path-like
        Created if needed; files of an earlier report there are replaced, each atomically.
    functional, comparison, weight_modules, extra
        As for :func:`functional_summary`.

    Returns
    -------
    pathlib.Path
        The ``index.html`` written.

    Raises
    ------
    TypeError, ValueError
        As :func:`functional_summary`.
    ImportError
        If matplotlib is not installed (the ``plot`` extra).

    Examples
    --------
    >>> import tempfile, torch, modcore
    >>> from torch import nn
    >>> from modcore.report.functional import write_functional_report
    >>> model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 4))
    >>> x = torch.randn(200, 6, generator=torch.Generator().manual_seed(0))
    >>> fm = modcore.functional_modules(model, x, n_clusters=2, n_shuffles=0, seed=0)
    >>> weight = modcore.spectral_cluster(model, n_clusters=2, seed=0)
    >>> cmp = modcore.compare_modules(fm, weight, n_permutations=9, seed=0)
    >>> write_functional_report(tempfile.mkdtemp(), fm, cmp, weight).name
    'index.html'
    """
    from .page import page, write_files

    weight = check_results(functional, comparison, weight_modules)
    figure = coactivation_matrix(functional, weight)
    results = functional_summary(functional, comparison, weight, extra)
    e = html.escape
    run = "".join(
        f"<tr><th>{e(str(key))}</th><td>{e(str(value))}</td></tr>"
        for key, value in (extra or {}).items()
    )
    body = f"""<h1>modcore: functional modules</h1>
<p>Weight modules: k = {weight.n_clusters}, n-cut {weight.ncut:.4f} of the weight graph.</p>
{section(functional, comparison)}
<h2>Run</h2>
<p>The labels of every unit, all null values and the versions are in
<a href="summary.json">summary.json</a>.</p>
<table>{run}</table>"""
    title = f"modcore functional modules: NMI {comparison.nmi.value:.3f}"
    return write_files(out_dir, results, [(FIGURE, figure)], page(title, body))


def coactivation_matrix(functional, weight_modules, *, max_pixels: int = 300):
    """The coactivation matrix of the compared units, ordered by weight module and
    by functional module.

    The units are those :func:`modcore.compare_modules` compares (in a module in
    both results). Left: sorted by weight module (within one, in layer order);
    if units of a weight module fire together, their block on the diagonal is
    darker than the rest of its row. Right: the same units sorted by functional
    module. Lines mark module boundaries. Above ``max_pixels`` units, each pixel
    is the mean edge weight between two runs of consecutive sorted units (the
    diagonal of the unit matrix, 0 by definition, left out of the means).

    Parameters
    ----------
    functional : FunctionalModules
        From :func:`modcore.functional_modules`.
    weight_modules : Clustering or Significance
        The weight modules, with group names shared with ``functional`` (as for
        :func:`modcore.compare_modules`).
    max_pixels : int, default=300
        Largest side of each image, in pixels.

    Returns
    -------
    matplotlib.figure.Figure
        Two image axes and a colour bar.

    Raises
    ------
    TypeError, ValueError
        As :func:`modcore.compare_modules`, or ``max_pixels`` not a positive integer.
    ImportError
        If matplotlib is not installed.

    Examples
    --------
    >>> import torch, modcore
    >>> from modcore.report.functional import coactivation_matrix
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 4))
    >>> x = torch.randn(200, 6, generator=torch.Generator().manual_seed(0))
    >>> fm = modcore.functional_modules(model, x, n_clusters=2, n_shuffles=0, seed=0)
    >>> weight = modcore.spectral_cluster(model, n_clusters=2, seed=0)
    >>> len(coactivation_matrix(fm, weight).axes)  # two images, a colour bar
    3
    """
    from .plot import new_figure

    weight = weight_clustering(functional, weight_modules)
    max_pixels = check_positive_int(max_pixels, "max_pixels")
    _, nodes, f_lab, w_lab = matched_units(functional, weight)
    fig = new_figure(12, 5.6)
    from matplotlib import colormaps
    from matplotlib.colors import PowerNorm

    axes = fig.subplots(1, 2)
    images = []
    for ax, labels, what in ((axes[0], w_lab, "weight"), (axes[1], f_lab, "functional")):
        order = np.argsort(labels, kind="stable")
        matrix = _binned_matrix(functional.graph, nodes[order], max_pixels)
        images.append(matrix)
        n_bins = matrix.shape[0]
        cuts = (np.flatnonzero(np.diff(labels[order])) + 1) * n_bins / len(order) - 0.5
        ax.set_title(f"ordered by {what} module ({len(np.unique(labels))} modules)")
        ax.set_xlabel(f"{len(order)} units by {what} module")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.hlines(cuts, -0.5, n_bins - 0.5, colors="tab:blue", linewidths=0.6, alpha=0.7)
        ax.vlines(cuts, -0.5, n_bins - 0.5, colors="tab:blue", linewidths=0.6, alpha=0.7)
    top = max(float(np.nanmax(m)) for m in images) or 1.0
    norm = PowerNorm(0.5, vmin=0.0, vmax=top)
    cmap = colormaps["magma_r"].with_extremes(bad="white")
    for ax, matrix in zip(axes, images):
        image = ax.imshow(matrix, cmap=cmap, norm=norm, interpolation="nearest")
    edge = "r²" if functional.squared else "|r|"
    fig.colorbar(image, ax=list(axes), label=f"{functional.method} {edge}", shrink=0.85)
    return fig


def _binned_matrix(graph, nodes: np.ndarray, max_pixels: int) -> np.ndarray:
    """Mean edge weight between runs of consecutive ``nodes`` (each node its own run
    when they fit), read from the one self-block a chunk of entries at a time;
    NaN on the diagonal of single units."""
    block = graph.blocks[0]
    n = graph.sizes[0]
    m = nodes.size
    n_bins = min(m, max_pixels)
    where = np.full(n, -1, dtype=np.int64)
    where[nodes] = np.arange(m) * n_bins // m  # each node's bin
    sums = np.zeros(n_bins * n_bins)
    step = 1 << 22
    for start in range(0, block.positions.size, step):
        r, c = np.divmod(block.positions[start : start + step], n)
        r, c = where[r], where[c]
        keep = (r >= 0) & (c >= 0)
        v = np.abs(block.values[start : start + step][keep])
        r, c = r[keep], c[keep]
        sums += np.bincount(r * n_bins + c, weights=v, minlength=n_bins * n_bins)
        sums += np.bincount(c * n_bins + r, weights=v, minlength=n_bins * n_bins)
    size = np.bincount(where[nodes], minlength=n_bins).astype(np.float64)
    pairs = np.outer(size, size) - np.diag(size)  # a unit is not paired with itself
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, sums.reshape(n_bins, n_bins) / pairs, np.nan)


def section(functional: FunctionalModules, comparison: ModuleComparison) -> str:
    """The HTML section: the functional n-cut and its null, the comparison table,
    within/between mean edge weights and the figure ``FIGURE``."""
    e = html.escape
    acts = functional.activations
    c = comparison
    edge = "r&sup2;" if functional.squared else "|r|"
    sig = functional.significance
    null = (
        ""
        if sig is None
        else f""" against {sig.n_shuffles} coactivation graphs with permuted upper triangles:
mean {sig.shuffled_mean:.4f} &plusmn; {sig.shuffled_std:.4f}, z = {_z(sig.z_score)},
p = {sig.p_value:.4g}"""
    )
    rows = "".join(
        f"<tr><td>{name}</td><td>{t.value:.4f}</td><td>{t.mean:.4f}</td><td>{t.std:.4f}</td>"
        f"<td>{_z(t.z_score)}</td><td>{t.p_value:.4g}</td><td>{e(meaning)}</td></tr>"
        for name, t, meaning in (
            ("NMI", c.nmi, "higher: the two partitions agree"),
            ("adjusted Rand", c.ari, "higher: the two partitions agree"),
            ("transfer n-cut", c.transfer_ncut, "lower: weight modules fire together"),
        )
    )
    ratio = c.within_mean / c.between_mean if c.between_mean > 0 else math.inf
    return f"""<h2 id="functional">Functional modules</h2>
<p>{acts.n_units} units ({e(", ".join(functional.group_names))}) clustered by their
{e(functional.method)} {edge} over {acts.n_samples} samples into
k = {functional.clustering.n_clusters} modules ({len(acts.dropped)} constant units dropped):
functional n-cut <strong id="functional-ncut">{functional.ncut:.4f}</strong>{null}.</p>
<p>Against the weight modules, on the {c.n_units} units in a module in both; nulls:
{c.n_permutations} permutations of the weight labels over these units (one-sided p).</p>
<table id="comparison"><tr><th>statistic</th><th>value</th><th>null mean</th><th>null std</th>
<th>z-score</th><th>p-value</th><th>direction of the effect</th></tr>
{rows}</table>
<p>Mean {edge} between two units of the same weight module
<strong id="within">{_g(c.within_mean)}</strong>, of different ones
<strong id="between">{_g(c.between_mean)}</strong> (ratio {_g(ratio)}). The transfer n-cut is
the n-cut of the coactivation graph (these units) under the weight modules; under the
functional modules it is {c.functional_ncut:.4f}.</p>
<figure><img src="{FIGURE}" alt="coactivation matrix"><figcaption>The coactivation
matrix ({edge}) of the compared units, ordered by weight module (left) and by functional module
(right); lines mark module boundaries. Diagonal blocks darker than their rows on the left:
weight modules that fire together.</figcaption></figure>"""


def _z(z: float) -> str:
    return f"{z:.2f}" if math.isfinite(z) else str(z)


def _g(x: float) -> str:
    return f"{x:.4g}" if np.isfinite(x) else str(x)
