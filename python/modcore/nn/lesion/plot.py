"""Figures of a :class:`~modcore.nn.lesion.LesionStudy` (needs matplotlib).

matplotlib is imported only when a figure is drawn, and figures are drawn on
an Agg canvas of their own: pyplot and the user's backend are never touched,
so this works on machines without a display and inside other programs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...plot import new_figure

__all__ = ["plot_single_lesions", "plot_dependencies", "save_figures"]

_IMPORTANT = "#c0392b"
_OTHER = "#5d7ea8"
_RANDOM = "#b0b0b0"


def plot_single_lesions(study, path=None):
    """Bar chart of each sub-module's accuracy drop, one panel per hidden layer.

    Bars are the sub-modules' drops in percentage points (important ones in red,
    with a star); behind each bar a grey band spans the random same-size lesions'
    mean ± 2 std, with a tick at their mean. A dashed line marks ``min_drop``.

    Parameters
    ----------
    study : LesionStudy
    path : str or path-like, optional
        Save the figure there (the format follows the suffix, e.g. ``.png``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    layers = list(range(1, len(study.layer_sizes) - 1))
    fig = new_figure(max(4.0, 3.2 * len(layers)), 3.6)
    axes = fig.subplots(1, len(layers), sharey=True, squeeze=False)[0]
    top = max([s.drop for s in study.single] + [s.random_mean + 2 * s.random_std
                                                  for s in study.single] + [study.min_drop])
    for ax, layer in zip(axes, layers):
        subs = [s for s in study.single if s.layer == layer]
        pos = np.arange(len(subs))
        for i, s in enumerate(subs):
            low = max(s.random_mean - 2 * s.random_std, 0.0)
            high = s.random_mean + 2 * s.random_std
            ax.add_patch(_rectangle((i - 0.42, 100 * low), 0.84, 100 * (high - low)))
            ax.plot([i - 0.42, i + 0.42], [100 * s.random_mean] * 2, color="#606060", lw=1)
        colors = [_IMPORTANT if s.important else _OTHER for s in subs]
        ax.bar(pos, [100 * s.drop for s in subs], width=0.5, color=colors, zorder=3)
        for i, s in enumerate(subs):
            if s.important:
                ax.text(i, 100 * s.drop + 1.5 * top, "*", ha="center", va="bottom",
                        color=_IMPORTANT, fontsize=12)
        ax.axhline(100 * study.min_drop, color="k", ls="--", lw=0.8)
        ax.set_xticks(pos, [f"M{s.module}\n{s.size}" for s in subs], fontsize=7)
        live = int((np.asarray(study.labels[layer]) >= 0).sum())
        ax.set_title(f"layer {layer} ({live}/{study.layer_sizes[layer]} live)", fontsize=9)
        ax.set_xlim(-0.6, max(len(subs), 1) - 0.4)
    axes[0].set_ylabel("accuracy drop (percentage points)")
    axes[0].set_ylim(min(0.0, 100 * min(s.drop for s in study.single)) - 0.5, 100 * top * 1.12 + 1)
    fig.suptitle(
        f"Single lesions (base accuracy {100 * study.base_accuracy:.1f} %): bars = sub-module "
        f"(module / size), grey = random mean ± 2 std, * = important",
        fontsize=9,
    )
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


def _rectangle(xy, width, height):
    from matplotlib.patches import Rectangle

    return Rectangle(xy, width, height, color=_RANDOM, alpha=0.6, lw=0, zorder=1)


def plot_dependencies(study, path=None):
    """Heatmap of the double-lesion interactions between important sub-modules.

    Cell (a, b) is ``joint drop - (drop_a + drop_b)`` in percentage points:
    blue (negative) when lesioning both hurts less than the sum (overlapping
    damage, e.g. one feeds the other), red when more. A star marks an interaction
    outside the random pairs' (two-sided p < 0.05, not corrected for the number
    of pairs). Same-layer cells are blank.

    Parameters
    ----------
    study : LesionStudy
    path : str or path-like, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    names = [study.single[i].name for i in study.dependency_index]
    n = len(names)
    fig = new_figure(max(4.0, 0.55 * n + 2.5), max(3.2, 0.55 * n + 1.5))
    ax = fig.subplots()
    if not study.pairs:
        reason = ("the double-lesion study was not run" if not study.double else
                  f"{len(study.important)} important sub-module(s): no pair in different layers")
        ax.text(0.5, 0.5, reason, ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    else:
        values = 100 * study.dependency
        limit = float(np.nanmax(np.abs(values))) or 1.0
        cmap = _colormap()
        image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=-limit, vmax=limit)
        pos = {i: k for k, i in enumerate(study.dependency_index)}
        for p in study.pairs:
            a, b = pos[p.a], pos[p.b]
            text = f"{100 * p.interaction:+.1f}" + ("*" if p.interaction_p < 0.05 else "")
            color = "white" if abs(100 * p.interaction) > 0.6 * limit else "black"
            for r, c in ((a, b), (b, a)):
                ax.text(c, r, text, ha="center", va="center", fontsize=7, color=color)
        ax.set_xticks(range(n), names, rotation=90, fontsize=8)
        ax.set_yticks(range(n), names, fontsize=8)
        layers = [study.single[i].layer for i in study.dependency_index]
        for k in range(1, n):
            if layers[k] != layers[k - 1]:
                ax.axhline(k - 0.5, color="k", lw=0.6)
                ax.axvline(k - 0.5, color="k", lw=0.6)
        fig.colorbar(image, ax=ax, label="joint drop − sum of single drops (pp)")
    ax.set_title("Double lesions of important sub-modules: joint drop − sum of singles (pp)\n"
                 "* = outside the random pairs' interactions (two-sided p < 0.05, uncorrected)",
                 fontsize=9)
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


def _colormap():
    from matplotlib import colormaps

    return colormaps["RdBu_r"].with_extremes(bad="#eeeeee")


def save_figures(study, directory) -> list:
    """Write ``lesion_single.png`` and ``lesion_double.png`` into ``directory``.

    The directory is created if needed. Returns the two paths.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / "lesion_single.png", directory / "lesion_double.png"]
    plot_single_lesions(study, paths[0])
    plot_dependencies(study, paths[1])
    return paths
