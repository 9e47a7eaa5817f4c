"""A run's results as a directory: summary.json, figures and an index.html.

The page is static HTML with relative links to the PNGs next to it: it opens
from disk in any browser, with no server and no JavaScript.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np

from ..network.convert import as_network
from .page import page, versions, write_files
from .verdict import ALPHA, k_choice, null_description, verdict, verdict_over_k

__all__ = ["summary", "write_report"]


def summary(
    network,
    significances: dict,
    extra: dict | None = None,
    *,
    curves=None,
    functional=None,
    comparison=None,
) -> dict:
    """Everything needed to redo and read a run, as plain JSON-ready values.

    Parameters
    ----------
    network : Network, list of 2-D arrays, ...
        The network analysed (anything :func:`modcore.spectral_cluster` takes).
    significances : dict of str to Significance
        One or more nulls of the same clustering (same weights, k, n_init and
        seed), e.g. ``{"layer": ..., "layer_nonzero": ...}``.
    extra : dict, optional
        Plain values to keep with the results, e.g. the command line, its
        arguments, the training run. Its keys come first in the result.
    curves : dict of str to NcutCurve, optional
        The n-cut against its null over a range of k (:func:`modcore.ncut_curve`),
        e.g. one per shuffle method.
    functional : FunctionalModules, optional
        The model's functional modules (:func:`modcore.functional_modules`),
        with ``comparison``.
    comparison : ModuleComparison, optional
        :func:`modcore.compare_modules` of ``functional`` and these weight
        modules (the network's groups named as the functional ones: a traced model).

    Returns
    -------
    dict
        ``extra``'s entries, then ``versions`` (modcore, Python, platform and
        the numpy / torch / matplotlib in use), ``layer_sizes`` (units per
        group), ``group_names``, ``eigen_method``, ``n_clusters``,
        ``n_init``, ``seed``, ``ncut``, ``modularity`` (Newman's Q),
        ``in_out_ratio``, ``labels`` (per group, -1: no edges), ``eigenvalues``
        and ``nulls``: per name, the Significance's other fields
        (``shuffled_ncuts``, ``z_score``, ``p_value``, ``modularity_z``, ...);
        with ``curves``, ``curves``: per name, :meth:`NcutCurve.to_dict`; with
        ``functional``, ``functional`` and ``comparison`` (their ``to_dict()``).

    Raises
    ------
    ValueError
        If ``significances`` is empty or its entries come from different
        clusterings, only one of ``functional`` and ``comparison`` is given, or
        ``comparison`` compares other units than ``functional`` and these modules share.
    TypeError
        If ``functional`` or ``comparison`` is not such a result.

    Examples
    --------
    >>> import modcore
    >>> from modcore.network.synthetic import planted_modular_mlp
    >>> w, _ = planted_modular_mlp([20, 20, 20], n_modules=2, seed=0)
    >>> sig = modcore.ncut_significance(w, n_clusters=2, n_shuffles=9, seed=0, progress=False)
    >>> summary(w, {"layer": sig})["nulls"]["layer"]["p_value"]
    0.1
    """
    network = as_network(network)
    check_results_of(network, significances, curves, extra)
    first = next(iter(significances.values()))
    for name, sig in significances.items():
        same = sig.ncut == first.ncut and all(
            np.array_equal(a, b) for a, b in zip(sig.labels, first.labels)
        )
        if not same:
            raise ValueError(
                f"significances[{name!r}] has another clustering than the first; "
                "a summary holds nulls of one clustering (same weights, k, seed)"
            )
    nulls = {}
    for name, sig in significances.items():
        entry = sig.to_dict()
        for key in (
            "labels",
            "eigenvalues",
            "ncut",
            "n_clusters",
            "n_init",
            "seed",
            "eigen_method",
            "group_names",
            "modularity",
            "in_out_ratio",
        ):
            entry.pop(key)
        nulls[name] = entry
    shared = first.to_dict()
    return {
        **(extra or {}),
        "versions": versions(),
        "layer_sizes": list(network.sizes),
        "group_names": list(network.names),
        "eigen_method": first.clustering.eigen_method,
        "n_clusters": first.n_clusters,
        "n_init": first.n_init,
        "seed": first.seed,
        "ncut": first.ncut,
        "modularity": first.modularity,
        "in_out_ratio": shared["in_out_ratio"],
        "labels": [lab.tolist() for lab in first.labels],
        "eigenvalues": first.clustering.eigenvalues.tolist(),
        "nulls": nulls,
        **({} if not curves else {"curves": {n: c.to_dict() for n, c in curves.items()}}),
        **_functional_entries(functional, comparison, first),
    }


def check_results_of(network, significances, curves=None, extra=None) -> None:
    """Raise unless every result was computed on ``network`` (same
    :attr:`~modcore.Network.fingerprint`): a page must never draw one network and
    show another's numbers."""
    from ..method.curve import NcutCurve
    from ..method.significance import Significance

    if not isinstance(significances, dict):
        raise TypeError(
            "significances must be a dict of null name to Significance (from "
            f"modcore.ncut_significance), got {_what(significances)}"
        )
    if not significances:
        raise ValueError("significances is empty: expected at least one Significance")
    found = []
    for name, sig in significances.items():
        if not isinstance(sig, Significance):
            raise TypeError(
                f"significances[{name!r}] must be a Significance (from "
                f"modcore.ncut_significance), got {_what(sig)}"
            )
        found.append((f"significances[{name!r}]", sig.network_fingerprint))
    if curves is not None:
        if not isinstance(curves, dict):
            raise TypeError(f"curves must be a dict of null name to NcutCurve, got {_what(curves)}")
        for name, curve in curves.items():
            if not isinstance(curve, NcutCurve):
                raise TypeError(
                    f"curves[{name!r}] must be an NcutCurve (from modcore.ncut_curve), "
                    f"got {_what(curve)}"
                )
            found.append((f"curves[{name!r}]", curve.network_fingerprint))
    gap = (extra or {}).get("eigengap") if isinstance(extra, dict) else None
    if isinstance(gap, dict) and "network_fingerprint" in gap:
        found.append(("extra['eigengap']", gap["network_fingerprint"]))
    expected = network.fingerprint
    for what, fingerprint in found:
        if fingerprint != expected:
            raise ValueError(
                f"{what} was computed on another network (fingerprint {fingerprint[:12]}) "
                f"than the one given ({_shape(network)}, fingerprint {expected[:12]}): a "
                "report shows the results of the network it draws; pass the network they "
                "were computed on"
            )


def _what(value) -> str:
    return f"a {type(value).__name__}"


def _shape(network) -> str:
    return "units " + "-".join(map(str, network.sizes))


def _functional_entries(functional, comparison, weight_modules) -> dict:
    if functional is None and comparison is None:
        return {}
    if functional is None or comparison is None:
        raise ValueError(
            "functional and comparison go together: pass both (the FunctionalModules and "
            "compare_modules of it with these weight modules) or neither"
        )
    from .functional import check_results, entries

    check_results(functional, comparison, weight_modules)
    return entries(functional, comparison)


def write_report(
    out_dir,
    network,
    significances: dict,
    extra: dict | None = None,
    *,
    curves=None,
    functional=None,
    comparison=None,
) -> Path:
    """Write ``summary.json``, the figures and ``index.html`` into ``out_dir``.

    Parameters
    ----------
    out_dir : str or path-like
        Created if needed; files of an earlier report there are replaced, each
        atomically (a reader sees the old file or the new one).
    network, significances, extra, curves, functional, comparison
        As for :func:`summary`. The weight-matrix figure is drawn for chains
        (MLPs) only; with ``curves``, the n-cut by k against each null too;
        with ``functional`` and ``comparison``, a section on the functional
        modules (their n-cut and null, NMI, adjusted Rand and transfer n-cut
        against their nulls, mean edge weight within and between weight modules)
        with the coactivation matrix ordered by weight module
        (:func:`modcore.report.functional.coactivation_matrix`).
        ``extra["note"]``, if given, is shown at the top of the page (e.g. that
        the network was trained on synthetic data).

    Returns
    -------
    pathlib.Path
        The ``index.html`` written. It states the verdict against each null in
        words (:func:`modcore.report.verdict.verdict`) with what the null controls for,
        and how k was chosen (:func:`modcore.report.verdict.k_choice`). With ``curves``
        over a range of k, the headline is the verdict over k corrected for
        choosing the best k (:func:`modcore.report.verdict.verdict_over_k`) and every
        per-k p-value is marked uncorrected; after ``--n-clusters auto`` (an
        ``eigengap`` entry in ``extra``) it adds the verdicts at the
        neighbouring k. Newman's Q is shown as a description of the modules,
        with the sentence that says why it is not tested (``Q_NOTE``).

    Raises
    ------
    ValueError, TypeError
        As :func:`summary`.
    ImportError
        If matplotlib is not installed (the ``plot`` extra).

    Examples
    --------
    >>> import tempfile, modcore
    >>> from modcore.network.synthetic import planted_modular_mlp
    >>> w, _ = planted_modular_mlp([20, 20, 20], n_modules=2, seed=0)
    >>> sig = modcore.ncut_significance(w, n_clusters=2, n_shuffles=9, seed=0, progress=False)
    >>> write_report(tempfile.mkdtemp(), w, {"layer": sig}).name
    'index.html'
    """
    from . import plot

    network = as_network(network)
    check_results_of(network, significances, curves, extra)
    first = next(iter(significances.values()))
    labels = first.labels
    # Checked before the drawing, which takes a while.
    _functional_entries(functional, comparison, first)
    xlim = plot.shared_ncut_range(significances.values())
    figures = [
        (
            f"null_{re.sub(r'[^A-Za-z0-9_-]', '_', name)}.png",
            plot.null_histogram(sig, xlim=xlim),
            f"n-cuts of the '{name}' shuffles; the red line is the network's.",
        )
        for name, sig in significances.items()
    ]
    figures += [
        (
            f"ncut_by_k_{re.sub(r'[^A-Za-z0-9_-]', '_', name)}.png",
            plot.ncut_by_k(c),
            f"The network's n-cut at each k (red) against the central 95% of its '{name}' "
            "shuffles' n-cuts (grey band); below, the z-score per k.",
        )
        for name, c in (curves or {}).items()
    ]
    figures.append(
        (
            "network.png",
            plot.network_modules(network, labels),
            "The network layer by layer, inputs on the left. In each layer the units are "
            "sorted by module, module 0 at the bottom; colours name the modules. The "
            "strongest weights are drawn, in their module's colour within a module, grey "
            "between modules.",
        )
    )
    if network.is_chain:
        figures.append(
            (
                "weights.png",
                plot.sorted_weights(network, labels),
                "|W| of each layer, rows and columns sorted by module: modules are "
                "diagonal blocks.",
            )
        )
    figures.append(
        (
            "module_sizes.png",
            plot.module_sizes(labels),
            "Share of each layer's units in each module.",
        )
    )
    files = [(name, fig) for name, fig, _ in figures]
    section = ""
    if functional is not None:  # its figure is shown in its section
        from . import functional as functional_report

        coactivation = functional_report.coactivation_matrix(functional, first)
        files.append((functional_report.FIGURE, coactivation))
        section = functional_report.section(functional, comparison)
    # After drawing, so that the matplotlib in use is among the versions.
    results = summary(
        network, significances, extra, curves=curves, functional=functional, comparison=comparison
    )
    page_html = _html(results, [(name, caption) for name, _, caption in figures], section)
    return write_files(out_dir, results, files, page_html)


def _html(results: dict, figures: list, section: str = "") -> str:
    e = html.escape
    sizes = "-".join(map(str, results["layer_sizes"]))
    rows = "".join(
        f"<tr><td>{e(name)}</td><td>{r['n_shuffles']}</td><td>{results['ncut']:.4f}</td>"
        f"<td>{r['shuffled_mean']:.4f}</td><td>{_num(r['shuffled_std'], '.4f')}</td>"
        f"<td>{_num(r['z_score'], '.2f')}</td><td>{r['p_value']:.4g}</td>"
        f"<td>{r['percentile']:.1f}</td>"
        f"<td>{_num(r['shuffled_in_out_ratio'], '.3f')}</td></tr>"
        for name, r in results["nulls"].items()
    )
    k = results["n_clusters"]
    curve_dicts = results.get("curves") or {}
    over_k = "".join(
        f"<li><strong>{e(verdict_over_k(c))}</strong><br>"
        f"{e(null_description(c['per_k'][0]['shuffle']))}</li>"
        for c in curve_dicts.values()
    )
    at_k = "".join(
        f"<li><strong>{e(verdict(r))}</strong><br>{e(null_description(r['shuffle']))}</li>"
        for r in results["nulls"].values()
    )
    neighbours = "".join(
        f"<li>k = {r['n_clusters']}: {e(verdict(r))}</li>"
        for c in curve_dicts.values()
        for r in c["per_k"]
        if r["n_clusters"] != k
    )
    if "eigengap" in results and curve_dicts:  # --n-clusters auto: k, then its neighbours
        verdicts = (
            f'<ul id="verdicts">{at_k}</ul>\n<p>At the neighbouring k (each p uncorrected):</p>'
            f'\n<ul id="neighbours">{neighbours}</ul>\n<p>Over these k, corrected for '
            f'choosing among them:</p>\n<ul id="over-k">{over_k}</ul>'
        )
    elif curve_dicts:
        verdicts = (
            f'<ul id="over-k">{over_k}</ul>\n<p>The same tests at k = {k} alone; their '
            "p-values are uncorrected for choosing k, and so is every p-value in the tables "
            f'below:</p>\n<ul id="verdicts">{at_k}</ul>'
        )
    else:
        verdicts = f'<ul id="verdicts">{at_k}</ul>'
    p_header = "p-value (uncorrected for choosing k)" if curve_dicts else "p-value"
    note = (
        f'<p id="note"><strong>Note:</strong> {e(results["note"])}</p>' if "note" in results else ""
    )
    curves = "".join(_curve_table(name, c) for name, c in results.get("curves", {}).items())
    skip = {"labels", "eigenvalues", "nulls", "curves", "functional", "comparison", "note"}
    ran = ", ".join(f"{name} ({r['n_shuffles']} shuffles)" for name, r in results["nulls"].items())
    run = f"<tr><th>nulls run</th><td>{e(ran)}</td></tr>" + "".join(
        f"<tr><th>{e(key)}</th><td>{e(_text(value))}</td></tr>"
        for key, value in results.items()
        if key not in skip
    )
    images = "".join(
        f'<figure><img src="{e(name)}" alt="{e(caption)}"><figcaption>{e(caption)}'
        "</figcaption></figure>"
        for name, caption in figures
    )
    body = f"""<h1>modcore report</h1>
{note}
<p>Network {e(sizes)}, k = {results["n_clusters"]} modules, seed {results["seed"]}:
n-cut <strong id="ncut">{results["ncut"]:.4f}</strong> (lower = more modular), compared with
networks whose weights were shuffled within each layer.</p>
<h2>Verdict</h2>
<p>A one-sided test at the {ALPHA:.0%} level against each null: is the network's n-cut lower
than its shuffled networks'? What each null keeps is what it controls for.
<span id="k-choice">How k was chosen: {e(k_choice(results))}.</span></p>
{verdicts}
<p>Newman's modularity Q of the modules:
<strong id="modularity">{results["modularity"]:.4f}</strong>;
mean in/out ratio {_num(results["in_out_ratio"], ".3f")} (weight inside a module per unit of
weight leaving it, were all modules alike).</p>
<p id="q-note">{e(Q_NOTE)}</p>
<table id="results"><tr><th>null</th><th>shuffles</th><th>n-cut</th><th>shuffled mean</th>
<th>shuffled std</th><th>z-score (Cohen's d)</th><th>{p_header}</th><th>left percentile</th>
<th>shuffled in/out</th></tr>
{rows}</table>
<p>p = (1 + #{{shuffled n-cut &le; n-cut}}) / (shuffles + 1) (with a sequential stop after
h such shuffles at shuffle l: h / l); z = (n-cut &minus; mean) / std, which is also Cohen's d of
the network against the null; left percentile: % of shuffled n-cuts &le; the network's;
shuffled in/out: the shuffles' median in/out ratio.</p>
{curves}
{images}
{section}
<h2>Run</h2>
<p>Everything needed to redo it, with the labels of every neuron and all shuffled n-cuts,
is in <a href="summary.json">summary.json</a>.</p>
<table id="run">{run}</table>"""
    return page(f"modcore report: n-cut {results['ncut']:.4f}", body)


#: What Q on these pages is, and why it is not tested (issue: Q and the n-cut disagreeing).
Q_NOTE = (
    "Q here is Newman's modularity of the n-cut modules: modules chosen to minimise the "
    "n-cut, not to maximise Q. It describes them and is not tested. Q of a shuffled "
    "network's n-cut modules is not Q's own optimum on that network either, so comparing "
    "the two says little about Q-modularity, and it can point the other way than the n-cut "
    "(Q favours few large modules of similar size; the n-cut also rewards small modules "
    "with few edges leaving them). The verdict rests on the n-cut alone."
)


def _curve_table(name: str, curve: dict) -> str:
    rows = "".join(
        f"<tr><td>{r['n_clusters']}</td><td>{r['ncut']:.4f}</td><td>{r['shuffled_mean']:.4f}"
        f"</td><td>{_num(r['shuffled_std'], '.4f')}</td><td>{_num(r['z_score'], '.2f')}</td>"
        f"<td>{r['p_value']:.4g}</td><td>{r['modularity']:.4f}</td></tr>"
        for r in curve["per_k"]
    )
    return (
        f"<h2>By number of modules, '{html.escape(name)}' null</h2>\n"
        '<table class="curve"><tr><th>k</th><th>n-cut</th>'
        "<th>shuffled mean</th><th>shuffled std</th><th>z-score</th>"
        f"<th>p-value (uncorrected)</th><th>Q</th></tr>\n{rows}</table>\n"
        f"<p>Corrected for choosing the best k (k = {curve['best_k']}) among these: "
        f"p = {curve['corrected_p_value']:.4g} (min-p permutation test: shuffled network s "
        "is the same network at every k, and the network's smallest p-value over k is "
        "ranked among each shuffled network's smallest p-value over k).</p>"
    )


def _num(value, fmt: str) -> str:
    """A number as text; infinities and NaN arrive from to_dict as the strings "inf",
    "-inf" and "nan"."""
    return value if isinstance(value, str) else format(value, fmt)


def _text(value) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_text(v)}" for k, v in value.items())
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
