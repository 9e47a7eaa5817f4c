"""Figures of a :class:`~modcore.nn.lesion.LesionStudy` (needs matplotlib).

matplotlib is imported only when a figure is drawn, and figures are drawn on
an Agg canvas of their own: pyplot and the user's backend are never touched,
so this works on machines without a display and inside other programs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .plot import new_figure, plain_text

__all__ = [
    "plot_single_lesions",
    "plot_dependencies",
    "plot_conditional",
    "plot_class_effects",
    "save_figures",
]

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
    layers = study.hidden_layers
    fig = new_figure(max(4.0, 3.2 * len(layers)), 3.6)
    axes = fig.subplots(1, len(layers), sharey=True, squeeze=False)[0]
    top = max(
        [s.drop for s in study.single]
        + [s.random_mean + 2 * s.random_std for s in study.single]
        + [study.min_drop]
    )
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
                ax.text(
                    i,
                    100 * s.drop + 1.5 * top,
                    "*",
                    ha="center",
                    va="bottom",
                    color=_IMPORTANT,
                    fontsize=12,
                )
        ax.axhline(100 * study.min_drop, color="k", ls="--", lw=0.8)
        ax.set_xticks(pos, [f"M{s.module}\n{s.size}" for s in subs], fontsize=7)
        live = int((np.asarray(study.labels[layer]) >= 0).sum())
        ax.set_title(
            f"{_layer_name(study, layer)} ({live}/{study.layer_sizes[layer]} live)", fontsize=9
        )
        ax.set_xlim(-0.6, max(len(subs), 1) - 0.4)
    axes[0].set_ylabel("accuracy drop (percentage points)")
    axes[0].set_ylim(min(0.0, 100 * min(s.drop for s in study.single)) - 0.5, 100 * top * 1.12 + 1)
    fig.suptitle(
        f"Single lesions (base accuracy {100 * study.base_accuracy:.1f} %): bars = sub-module "
        f"(module / size), grey = random mean ± 2 std, * = important",
        fontsize=9,
    )
    return _saved(fig, path)


def _layer_name(study, layer: int) -> str:
    if "channels" in study.unit_kinds:  # a CNN's groups also go by module name
        return f"layer {layer} ({plain_text(study.group_names[layer])}, {study.unit_kinds[layer]})"
    return f"layer {layer}"


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
    fig, ax = _pair_axes(study, 1.5)
    if study.pairs:
        values = 100 * study.dependency
        limit = float(np.nanmax(np.abs(values))) or 1.0
        texts = np.full(values.shape, "", dtype=object)
        pos = {i: k for k, i in enumerate(study.dependency_index)}
        for p in study.pairs:
            text = f"{100 * p.interaction:+.1f}" + ("*" if p.interaction_p < 0.05 else "")
            texts[pos[p.a], pos[p.b]] = texts[pos[p.b], pos[p.a]] = text
        _annotated_image(
            fig,
            ax,
            values,
            texts,
            np.abs(values) > 0.6 * limit,
            cmap=_colormap(),
            vmin=-limit,
            vmax=limit,
            label="joint drop − sum of single drops (pp)",
        )
        layers = [study.single[i].layer for i in study.dependency_index]
        for k in range(1, len(layers)):
            if layers[k] != layers[k - 1]:
                ax.axhline(k - 0.5, color="k", lw=0.6)
                ax.axvline(k - 0.5, color="k", lw=0.6)
    ax.set_title(
        "Double lesions: joint drop − sum of single drops (pp)\n"
        "* = outside the random pairs' interactions (two-sided p < 0.05, uncorrected)",
        fontsize=9,
    )
    return _saved(fig, path)


def plot_conditional(study, path=None):
    """Matrix of the conditional double-lesion test (the authors' ``s_i|j``).

    Row ``i``, column ``j``: the extra accuracy drop (pp) of lesioning ``i`` once
    ``j`` is lesioned; a star marks a pass (no random same-size set of ``i``'s
    layer added more, and at least ``min_drop``). The diagonal holds the single
    drops (bold); same-layer cells are blank. The title counts the dependency
    types of pairs of important sub-modules.

    Parameters
    ----------
    study : LesionStudy
    path : str or path-like, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _pair_axes(study, 1.8)
    if study.pairs:
        from matplotlib import colormaps

        values = 100 * study.conditional
        top = float(np.nanmax(np.abs(values))) or 1.0
        stars = np.where(study.conditional_important, "*", "")
        texts = np.char.add(np.char.mod("%.1f", values), stars).astype(object)
        _annotated_image(
            fig,
            ax,
            values,
            texts,
            values > 0.6 * top,
            cmap=colormaps["Reds"].with_extremes(bad="#eeeeee"),
            vmin=0,
            vmax=top,
            label="extra drop of i given j (pp)",
            bold=np.eye(len(values), dtype=bool),
        )
        ax.set_xlabel("kept lesioned (j)", fontsize=8)
        ax.set_ylabel("added lesion (i)", fontsize=8)
    types = [p.dependency_type for p in study.pairs if p.dependency_type]
    counted = ", ".join(f"{t}: {types.count(t)}" for t in ("I", "II", "III", "IV"))
    ax.set_title(
        "Conditional double lesions: extra drop (pp) of row i given column j\n"
        "* = passes; diagonal: single drop\ntypes of important pairs: "
        f"{counted if types else 'none'}",
        fontsize=8,
    )
    return _saved(fig, path)


def plot_class_effects(study, path=None):
    """Heat map of the accuracy change per class (pp) of each important sub-module's lesion.

    Blue cells are classes that lost accuracy; each cell also gives, in
    brackets, the mean change of the sub-module's random same-size lesions.

    Parameters
    ----------
    study : LesionStudy
    path : str or path-like, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    subs = study.important
    n_classes = len(study.class_sizes)
    fig = new_figure(max(4.5, 0.75 * n_classes + 2.5), max(2.8, 0.45 * len(subs) + 1.8))
    ax = fig.subplots()
    if not subs:
        _empty(ax, "no important sub-module")
    else:
        change = 100 * (np.array([s.class_accuracy for s in subs]) - study.base_class_accuracy)
        rand = 100 * (
            np.array([s.random_class_accuracy.mean(axis=0) for s in subs])
            - study.base_class_accuracy
        )
        limit = float(np.nanmax(np.abs(change))) or 1.0
        texts = np.array(
            [[f"{c:+.0f}\n({r:+.1f})" for c, r in zip(*row)] for row in zip(change, rand)],
            dtype=object,
        )
        _annotated_image(
            fig,
            ax,
            change,
            texts,
            np.abs(change) > 0.6 * limit,
            cmap=_colormap().reversed(),
            vmin=-limit,
            vmax=limit,
            label="class accuracy change (pp)",
            fontsize=6,
            aspect="auto",
        )
        ax.set_xticks(range(n_classes), [str(c) for c in range(n_classes)], fontsize=8)
        ax.set_yticks(range(len(subs)), [f"{s.name} ({s.size})" for s in subs], fontsize=8)
        ax.set_xlabel("class")
    ax.set_title(
        "Per-class effect of lesioning each important sub-module (pp; in brackets: "
        "random same-size lesions' mean)",
        fontsize=9,
    )
    return _saved(fig, path)


def _colormap():
    from matplotlib import colormaps

    return colormaps["RdBu_r"].with_extremes(bad="#eeeeee")


def _pair_axes(study, extra_height: float):
    """A square matrix's figure and axes over the sub-modules of the pair studies, their
    names as ticks; a message instead when there is no pair."""
    names = [study.single[i].name for i in study.dependency_index]
    n = len(names)
    fig = new_figure(max(4.0, 0.55 * n + 2.5), max(3.2, 0.55 * n + extra_height))
    ax = fig.subplots()
    if not study.pairs:
        _empty(ax, _no_pairs(study))
    else:
        ax.set_xticks(range(n), names, rotation=90, fontsize=8)
        ax.set_yticks(range(n), names, fontsize=8)
    return fig, ax


def _annotated_image(
    fig, ax, values, texts, dark, *, cmap, vmin, vmax, label, fontsize=7, bold=None, aspect=None
):
    """``values`` as an image (NaN cells blank) with ``texts`` written on its cells, white on
    the ``dark`` ones, and a colour bar."""
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=vmin, vmax=vmax, aspect=aspect)
    for r, c in zip(*np.nonzero(~np.isnan(values) & (texts != ""))):
        ax.text(
            c,
            r,
            texts[r, c],
            ha="center",
            va="center",
            fontsize=fontsize,
            fontweight="bold" if bold is not None and bold[r, c] else "normal",
            color="white" if dark[r, c] else "black",
        )
    fig.colorbar(image, ax=ax, label=label)


def _empty(ax, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def _saved(fig, path):
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


def _no_pairs(study) -> str:
    if not study.double:
        return "the double-lesion study was not run"
    if study.pair_set == "important":
        return f"{len(study.important)} important sub-module(s): no pair in different layers"
    return "no pair of sub-modules in different layers"


def save_figures(study, directory) -> list:
    """Write ``lesion_single.png``, ``lesion_double.png``, ``lesion_conditional.png`` and
    ``lesion_classes.png`` into ``directory``.

    The directory is created if needed. Returns the four paths.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = [
        directory / name
        for name in (
            "lesion_single.png",
            "lesion_double.png",
            "lesion_conditional.png",
            "lesion_classes.png",
        )
    ]
    for draw, path in zip(
        (plot_single_lesions, plot_dependencies, plot_conditional, plot_class_effects), paths
    ):
        draw(study, path)
    return paths
