"""Figures of a clustering and its significance (needs the ``plot`` extra, matplotlib).

Every function returns a :class:`matplotlib.figure.Figure` drawn on the Agg
canvas, without pyplot: nothing global changes and nothing opens a window.
Save one with ``fig.savefig("name.png")``. Module ``m`` has the same colour in
every figure; neurons without edges (label -1) are grey.
"""

from __future__ import annotations

import math
import textwrap
from typing import cast

import numpy as np

from ..network.checks import check_positive_int
from ..network.convert import as_network
from .verdict import verdict

__all__ = ["null_histogram", "ncut_by_k", "network_modules", "sorted_weights", "module_sizes"]

_DROPPED_COLOR = (0.75, 0.75, 0.75, 1.0)
# tab20 without its greys: tab10's colours first, then their pale twins.
_TAB20 = (0, 2, 4, 6, 8, 10, 12, 16, 18, 1, 3, 5, 7, 9, 11, 13, 17, 19)


def new_figure(width: float, height: float):
    """A new Figure on the Agg canvas, without pyplot (nothing global changes).

    Parameters
    ----------
    width, height : float
        Size in inches.

    Returns
    -------
    matplotlib.figure.Figure
        Empty, with the constrained layout.

    Raises
    ------
    ImportError
        If matplotlib is not installed, saying how to get it.

    Examples
    --------
    >>> new_figure(4, 3).get_size_inches().tolist()
    [4.0, 3.0]
    """
    try:
        import matplotlib  # noqa: F401  (first, so a missing install fails here)
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(
            "modcore.report.plot needs matplotlib: pip install 'modcore[plot]'"
        ) from exc
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _check_labels(labels, sizes=None) -> list[np.ndarray]:
    labels = [np.asarray(lab, dtype=np.int64) for lab in labels]
    got = [len(lab) for lab in labels]
    if sizes is not None and got != list(sizes):
        raise ValueError(f"labels have layer sizes {got} but the network has {list(sizes)}")
    return labels


def _colors(labels: np.ndarray, n_modules: int) -> np.ndarray:
    """RGBA per label: tab20 without grey up to 18 modules, else turbo; grey for -1."""
    from matplotlib import colormaps

    if n_modules <= len(_TAB20):
        from matplotlib.colors import ListedColormap

        table = np.asarray(cast(ListedColormap, colormaps["tab20"]).colors)
        palette = np.array([(*table[_TAB20[m]], 1.0) for m in range(n_modules)])
    else:
        palette = colormaps["turbo"](np.linspace(0, 1, n_modules))
    out = np.tile(_DROPPED_COLOR, (len(labels), 1))
    out[labels >= 0] = palette[labels[labels >= 0]]
    return out


def _order(labels: np.ndarray) -> np.ndarray:
    """Neuron indices sorted by module, neurons without edges last (stable)."""
    return np.argsort(np.where(labels < 0, labels.max() + 1, labels), kind="stable")


def null_histogram(sig, *, xlim=None):
    """Histogram of the shuffled networks' n-cuts, the network's own n-cut marked.

    Parameters
    ----------
    sig : Significance
        From :func:`modcore.ncut_significance`.
    xlim : (float, float), optional
        The n-cut range shown, e.g. one shared by the histograms of several nulls
        (:func:`shared_ncut_range`); default: this null's and the network's n-cuts.

    Returns
    -------
    matplotlib.figure.Figure
        One axes: the histogram, a vertical line at ``sig.ncut``, and the verdict
        (:func:`modcore.report.verdict.verdict`: more modular or not, z and p) as its title.

    Raises
    ------
    ImportError
        If matplotlib is not installed.

    Examples
    --------
    >>> import modcore, modcore.report.plot
    >>> from modcore.network.synthetic import planted_modular_mlp
    >>> w, _ = planted_modular_mlp([20, 20, 20], n_modules=2, seed=0)
    >>> sig = modcore.ncut_significance(w, n_clusters=2, n_shuffles=20, seed=0, progress=False)
    >>> len(modcore.report.plot.null_histogram(sig).axes)
    1
    """
    fig = new_figure(7, 4.5)
    ax = fig.add_subplot()
    low, high = shared_ncut_range([sig]) if xlim is None else xlim
    bins: int | list = int(np.clip(sig.n_shuffles // 10, 10, 50))
    shuffled = np.asarray(sig.shuffled_ncuts, dtype=float)
    if shuffled.size and np.ptp(shuffled) == 0:  # one value: a thin bar on it, not 1 wide
        width = (high - low) / 100
        bins = [shuffled[0] - width / 2, shuffled[0] + width / 2]
    ax.hist(sig.shuffled_ncuts, bins=bins, color="0.6", label=f"{sig.n_shuffles} shuffled networks")
    ax.axvline(sig.ncut, color="tab:red", linewidth=2, label=f"the network: {sig.ncut:.4f}")
    ax.set_xlim(low, high)
    ax.set_xlabel(f"n-cut (k = {sig.n_clusters}; lower = more modular)")
    ax.set_ylabel("shuffled networks")
    ax.set_title(textwrap.fill(verdict(sig), 70), fontsize="medium")
    # Outside the axes: the network's line can be anywhere along them.
    fig.legend(loc="outside lower center", ncols=2)
    return fig


def shared_ncut_range(significances) -> tuple:
    """One n-cut range holding every null's shuffled n-cuts and the network's n-cut, with
    a margin: the histograms of several nulls drawn on the same axis."""
    values = np.concatenate(
        [np.append(np.asarray(s.shuffled_ncuts, dtype=float), s.ncut) for s in significances]
    )
    values = values[np.isfinite(values)]
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    margin = 0.05 * (high - low) or 0.05  # n-cut units: one value gets a readable axis
    return low - margin, high + margin


def plain_text(text: object) -> str:
    """A user's string (a group name) for a figure: shown as typed, never as
    matplotlib's ``$...$`` math markup."""
    return str(text).replace("$", r"\$")


def ncut_by_k(curve):
    """The network's n-cut at each k against its null: the central 95% of the
    shuffled n-cuts as a band, their mean as a line; below, the z-score per k.

    n-cut grows about linearly with k, so it is drawn divided by k (the mean
    share of a module's edge weight that leaves it), which keeps the band
    visible at every k.

    Parameters
    ----------
    curve : NcutCurve
        From :func:`modcore.ncut_curve`.

    Returns
    -------
    matplotlib.figure.Figure
        Two axes sharing k: n-cuts (network, null mean, band), and z-scores.

    Raises
    ------
    ImportError
        If matplotlib is not installed.

    Examples
    --------
    >>> import modcore, modcore.report.plot
    >>> from modcore.network.synthetic import planted_modular_mlp
    >>> w, _ = planted_modular_mlp([20, 20, 20], n_modules=2, seed=0)
    >>> curve = modcore.ncut_curve(w, ks=[2, 3, 4], n_shuffles=20, seed=0, progress=False)
    >>> len(modcore.report.plot.ncut_by_k(curve).axes)
    2
    """
    fig = new_figure(7, 6)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[2, 1])
    ks = curve.ks
    null = curve.shuffled_ncuts / ks
    first = curve.significances[0]
    low, high = np.percentile(null, [2.5, 97.5], axis=0)
    top.fill_between(ks, low, high, color="0.85", label="shuffles: central 95%")
    top.plot(ks, null.mean(axis=0), color="0.45", marker=".", label="shuffles: mean")
    top.plot(ks, curve.ncut / ks, color="tab:red", marker="o", linewidth=2, label="the network")
    top.set_ylabel("n-cut / k (lower = more modular)")
    top.set_title(f"'{first.shuffle}' null, {first.n_shuffles} shuffled networks per k")
    top.legend(loc="upper left")
    z = np.clip(curve.z_score, -1e6, 1e6)  # an infinite z (a null of equal n-cuts) stays drawable
    bottom.axhline(0, color="0.6", linewidth=1)
    bottom.plot(ks, z, color="tab:red", marker="o")
    bottom.set_ylabel("z-score")
    bottom.set_xlabel("k (number of modules)")
    bottom.set_xticks(ks if len(ks) <= 20 else ks[:: max(1, len(ks) // 20)])
    return fig


def network_modules(network, labels, edges_per_layer: int = 300):
    """The network drawn group by group (layer by layer), units coloured by module.

    Each column is a group of units (a layer, a conv layer's channels), inputs
    on the left. Within a column the units are sorted by module, module 0 at the
    bottom and units without edges (grey) at the top, each at the height of its
    rank: a module's height in a column is its share of that layer. The
    ``edges_per_layer`` strongest weights of each block are drawn, in the
    module's colour when both ends are in the same module, else grey, more
    opaque when stronger. Blocks that skip columns (residual links) are drawn
    across them. A legend names the module colours and the two kinds of edge.

    Parameters
    ----------
    network : Network or list of 2-D arrays
        The network (anything :func:`modcore.spectral_cluster` takes).
    labels : list of int arrays
        Module per unit and group (-1: no edges), as ``Significance.labels``.
    edges_per_layer : int, default=300
        Bound on the edges drawn per block (per weight matrix of an MLP).

    Returns
    -------
    matplotlib.figure.Figure
        One axes with two collections: the edges (a LineCollection) and the units.

    Raises
    ------
    ValueError
        If the network is invalid, the labels do not match its group sizes or
        ``edges_per_layer < 1``.
    TypeError
        If ``edges_per_layer`` is not an int.
    ImportError
        If matplotlib is not installed.

    Examples
    --------
    >>> import numpy as np, modcore.report.plot
    >>> w = [np.eye(3), np.ones((3, 2))]
    >>> labels = [np.array([0, 0, 1]), np.array([0, 0, 1]), np.array([0, 1])]
    >>> edges, neurons = modcore.report.plot.network_modules(w, labels).axes[0].collections
    >>> len(edges.get_segments()), len(neurons.get_offsets())
    (9, 8)
    """
    fig = new_figure(10, 6)
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    network = as_network(network)
    edges_per_layer = check_positive_int(edges_per_layer, "edges_per_layer")
    sizes = network.sizes
    labels = _check_labels(labels, sizes)
    n_modules = max(int(lab.max()) for lab in labels) + 1
    # y of each unit: its rank in the module order, bottom to top, in (0, 1).
    ys = []
    for lab in labels:
        y = np.empty(len(lab))
        y[_order(lab)] = (np.arange(len(lab)) + 0.5) / len(lab)
        ys.append(y)
    segments, colors = [], []
    for block in network.blocks:
        i, j, vals = block.coo()
        mag = np.abs(vals)
        if mag.size == 0:
            continue
        first = mag.size - min(edges_per_layer, mag.size)
        top = np.argpartition(mag, first)[first:]
        i, j, mag_top = i[top], j[top], mag[top]
        s, d = block.src, block.dst
        segments += [((s, ys[s][a]), (d, ys[d][b])) for a, b in zip(i, j)]
        same = labels[s][i] == labels[d][j]
        rgba = np.where(same[:, None], _colors(labels[s][i], n_modules), (0.5, 0.5, 0.5, 1.0))
        rgba[:, 3] = (0.1 + 0.6 * mag_top / mag.max()) * np.where(same, 1.0, 0.4)
        colors.append(rgba)

    ax = fig.add_subplot()
    if segments:
        ax.add_collection(LineCollection(segments, colors=np.concatenate(colors), linewidths=0.6))
    xs = np.concatenate([np.full(n, g) for g, n in enumerate(sizes)])
    ax.scatter(
        xs,
        np.concatenate(ys),
        s=float(np.clip(3000 / max(sizes), 2, 40)),
        c=_colors(np.concatenate(labels), n_modules),
        linewidths=0,
        zorder=2,
    )
    ax.set_xticks(
        range(len(sizes)),
        [f"{plain_text(name)}\n{n} units" for name, n in zip(network.names, sizes)],
    )
    ax.set_xlabel("layer (inputs on the left)")
    ax.set_yticks([0, 0.5, 1], ["0", "50%", "100%"])
    ax.set_ylabel("units of the layer sorted by module\n(module 0 at the bottom; rank in layer)")
    ax.set_xlim(-0.3, len(sizes) - 0.7)
    ax.set_ylim(0, 1)
    for side in ("right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_title(
        f"{n_modules} modules; the {edges_per_layer} strongest weights of each layer, "
        "darker = stronger"
    )
    ax.legend(
        handles=_module_legend(labels, n_modules, Line2D),
        loc="center left",
        bbox_to_anchor=(1.0, 0.5),
        fontsize="small",
        ncols=2 if n_modules > 16 else 1,
    )
    return fig


def _module_legend(labels, n_modules: int, line) -> list:
    """Legend entries: each module's colour (a range when there are many), units
    without edges, and the two kinds of edge."""
    colors = _colors(np.arange(n_modules), n_modules)
    shown = range(n_modules) if n_modules <= 30 else [0, n_modules - 1]
    dot = {"marker": "o", "linestyle": "none", "markersize": 7}
    handles = [line([], [], color=colors[m], label=f"module {m}", **dot) for m in shown]
    if any((lab < 0).any() for lab in labels):
        handles.append(line([], [], color=_DROPPED_COLOR, label="unit without edges", **dot))
    handles += [
        line([], [], color=colors[0], label="weight within a module\n(the module's colour)"),
        line([], [], color=(0.5, 0.5, 0.5, 0.4), label="weight between modules"),
    ]
    return handles


def sorted_weights(weights, labels):
    """Each weight matrix ``|W|`` with rows and columns sorted by module.

    Modules show as dark diagonal blocks; thin lines mark module boundaries.
    The matrices are laid out three to a row. The colour scale is logarithmic,
    from 1/1000 of the largest ``|W|`` (smaller values clipped to its palest
    colour) to the largest; exact zeros are white.

    Parameters
    ----------
    weights : list of 2-D arrays or a chain Network
        ``weights[l]`` of shape ``(n_l, n_{l+1})``: an MLP.
    labels : list of int arrays
        Module per neuron and layer (-1: no edges; sorted last).

    Returns
    -------
    matplotlib.figure.Figure
        One axes per weight matrix, plus one for the shared colour bar.

    Raises
    ------
    ValueError
        If the weights are invalid, all zero, or the labels do not match their layer sizes.
    ImportError
        If matplotlib is not installed.

    Examples
    --------
    >>> import numpy as np, modcore.report.plot
    >>> fig = modcore.report.plot.sorted_weights([np.eye(4)], [np.array([1, 0, 1, 0])] * 2)
    >>> len(fig.axes)  # the matrix and the colour bar
    2
    """
    network = as_network(weights)
    weights = network.chain_weights()
    # At most three matrices a row, so that the figure fits a page (about 1000 pixels
    # at 100 dpi) without being shrunk.
    n_cols = min(3, len(weights))
    n_rows = math.ceil(len(weights) / n_cols)
    fig = new_figure(1.0 + 3.1 * n_cols, 0.4 + 3.1 * n_rows)
    from matplotlib import colormaps
    from matplotlib.colors import LogNorm

    labels = _check_labels(labels, network.sizes)
    vmax = max(float(np.abs(w).max()) for w in weights)
    if vmax == 0:
        raise ValueError("all weights are zero: nothing to draw")
    norm = LogNorm(vmin=vmax / 1000, vmax=vmax, clip=True)
    cmap = colormaps["magma_r"].with_extremes(bad="white")
    grid = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
    for ax in grid[len(weights) :]:
        fig.delaxes(ax)
    axes = grid[: len(weights)]
    for l, (w, ax) in enumerate(zip(weights, axes)):
        rows, cols = _order(labels[l]), _order(labels[l + 1])
        block = np.abs(w)[np.ix_(rows, cols)]
        image = ax.imshow(
            np.ma.masked_equal(block, 0),
            cmap=cmap,
            norm=norm,
            aspect="auto",
            interpolation="nearest",
        )
        for lab, order, lines, extent in (
            (labels[l], rows, ax.hlines, block.shape[1]),
            (labels[l + 1], cols, ax.vlines, block.shape[0]),
        ):
            cuts = np.flatnonzero(np.diff(lab[order])) + 0.5
            lines(cuts, -0.5, extent - 0.5, colors="tab:blue", linewidths=0.5, alpha=0.6)
        ax.set_title(f"W{l}: {w.shape[0]} x {w.shape[1]}")
        ax.set_xlabel(f"layer {l + 1} by module")
        ax.set_ylabel(f"layer {l} by module")
    fig.colorbar(image, ax=list(axes), label="|W|", shrink=0.9 if n_rows == 1 else 0.6)
    return fig


def module_sizes(labels):
    """Share of each layer's neurons in each module, as stacked bars.

    Parameters
    ----------
    labels : list of int arrays
        Module per neuron and layer (-1: no edges, drawn grey on top).

    Returns
    -------
    matplotlib.figure.Figure
        One axes with a bar per layer and module (and per layer for the neurons
        without edges, when there are any).

    Raises
    ------
    ImportError
        If matplotlib is not installed.

    Examples
    --------
    >>> import numpy as np, modcore.report.plot
    >>> fig = modcore.report.plot.module_sizes([np.array([0, 0, 1]), np.array([1, -1])])
    >>> len(fig.axes[0].patches)
    6
    """
    fig = new_figure(8, 4.5)
    labels = _check_labels(labels)
    n_modules = max(int(lab.max()) for lab in labels) + 1
    shares = np.array([np.bincount(lab + 1, minlength=n_modules + 1) / len(lab) for lab in labels])
    colors = _colors(np.arange(n_modules), n_modules)
    ax = fig.add_subplot()
    x = np.arange(len(labels))
    bottom = np.zeros(len(labels))
    for m in range(n_modules):
        ax.bar(x, shares[:, m + 1], bottom=bottom, color=colors[m], label=f"module {m}")
        bottom += shares[:, m + 1]
    if shares[:, 0].any():
        ax.bar(x, shares[:, 0], bottom=bottom, color=_DROPPED_COLOR, label="no edges")
    ax.set_xticks(x, [f"layer {l}\n{len(lab)} neurons" for l, lab in enumerate(labels)])
    ax.set_xlabel("layer")
    ax.set_ylabel("share of the layer's neurons")
    ax.set_ylim(0, 1)
    ax.set_title("module sizes per layer")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize="small")
    return fig
