"""The figure of ``modcore reproduce``: n-cut per condition against its nulls (needs matplotlib)."""

from __future__ import annotations

import numpy as np

from ..report.plot import new_figure
from .conditions import ALL_CONDITIONS, NULLS, RULES, _by_rule

__all__ = ["ncut_figure"]

_NULL_COLORS = {"layer": "0.55", "layer_nonzero": "tab:blue"}


def ncut_figure(runs):
    """One panel per data set and label rule (columns: :data:`modcore.experiments.reproduce.RULES`):
    for each condition, the shuffled n-cuts of both nulls (pooled over seeds, as
    violins), the trained networks' n-cuts (red dots, one per seed) and the randomly
    initialised networks' n-cuts (black crosses), each clustered by the panel's rule. A
    rule the runs were not clustered by (runs written when one rule was kept) has its
    panel say so.

    Parameters
    ----------
    runs : list of dict
        Rows of ``runs.jsonl``.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ImportError
        If matplotlib is not installed.
    """
    runs = [_by_rule(r) for r in runs]
    names = list(dict.fromkeys(r["dataset"] for r in runs)) or ["(no runs)"]
    held = {r["condition"] for r in runs}
    conditions = [c for c in ALL_CONDITIONS if c in held] or list(ALL_CONDITIONS)[:4]
    # Many conditions: the rules' panels one above the other, so the figure stays readable.
    stacked = len(conditions) > 4
    across = 1 if stacked else len(RULES)
    down = len(names) * (len(RULES) if stacked else 1)
    fig = new_figure(max(6.0, (1.4 if stacked else 2.2) * len(conditions)) * across, 3.6 * down)
    grid = fig.subplots(down, across, squeeze=False)
    offsets = {"layer": -0.18, "layer_nonzero": 0.18}
    panels = [
        (grid.flat[i * len(RULES) + j], name, rule)
        for i, name in enumerate(names)
        for j, rule in enumerate(RULES)
    ]
    for ax, name, rule in panels:
        for x, cond in enumerate(conditions):
            group = [
                r
                for r in runs
                if r["dataset"] == name and r["condition"] == cond and f"{rule}_ncut" in r
            ]
            if not group:
                continue
            for null in NULLS:
                pooled = np.concatenate(
                    [np.asarray(r[f"{rule}_{null}_ncuts"], float) for r in group]
                )
                if np.ptp(pooled) > 0:
                    parts = ax.violinplot(
                        [pooled], positions=[x + offsets[null]], widths=0.32, showextrema=False
                    )
                    for body in parts["bodies"]:
                        body.set_facecolor(_NULL_COLORS[null])
                        body.set_alpha(0.6)
                else:
                    ax.plot(
                        [x + offsets[null]] * 2,
                        [pooled[0]] * 2,
                        "_",
                        ms=20,
                        color=_NULL_COLORS[null],
                    )
            jitter = np.linspace(-0.06, 0.06, len(group)) if len(group) > 1 else [0.0]
            for key, marker, color, size in (
                ("ncut", "o", "tab:red", 5),
                ("random_init_ncut", "x", "black", 6),
            ):
                ax.plot(
                    x + np.asarray(jitter),
                    [r[f"{rule}_{key}"] for r in group],
                    marker,
                    color=color,
                    ms=size,
                    zorder=3,
                )
        ax.set_xticks(
            range(len(conditions)),
            conditions,
            **({"rotation": 30, "ha": "right"} if len(conditions) > 4 else {}),
        )
        ax.set_xlim(-0.6, len(conditions) - 0.4)
        ax.set_ylabel("n-cut (lower = more modular)")
        clustered = any(f"{rule}_ncut" in r for r in runs if r["dataset"] == name)
        ax.set_title(
            f"{name}: {RULES[rule][0]}" + ("" if clustered else " (not computed)"), fontsize="small"
        )
    # One legend for the whole figure, with proxy artists.
    axes = grid[0]
    handles = [
        axes[0].scatter([], [], marker="o", color="tab:red", label="trained network"),
        axes[0].scatter([], [], marker="x", color="black", label="random init"),
    ]
    handles += [
        axes[0].fill_between([], [], color=_NULL_COLORS[n], alpha=0.6, label=f"'{n}' shuffles")
        for n in NULLS
    ]
    axes[0].legend(handles=handles, loc="best", fontsize="small")
    return fig
