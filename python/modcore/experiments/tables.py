"""A reproduction's runs aggregated: the table (mean and spread per data set, condition and
label rule), its Markdown, and the files they are written to."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ..common.files import atomic_write
from .conditions import (
    ALL_CONDITIONS,
    CONDITIONS,
    NULLS,
    RULES,
    _by_rule,
)

if TYPE_CHECKING:
    import pandas

__all__ = ["aggregate", "table_columns", "to_markdown", "write_tables"]


def write_tables(out, runs, *, seeds, say, conditions=None) -> tuple:
    """Write ``table.csv``, ``table.md`` (saying whether it holds ``seeds`` seeds per
    condition of ``conditions``, default the paper's four) and ``ncut.png`` (if
    matplotlib is there) of ``runs`` into ``out``: ``(table, figure file name or None)``."""
    table = aggregate(runs)
    with atomic_write(out / "table.csv", newline="") as f:
        table.to_csv(f, index=False)
    with atomic_write(out / "table.md") as f:
        f.write(to_markdown(table, seeds=seeds, conditions=conditions) + "\n")
    say(f"table written to {out / 'table.csv'} and {out / 'table.md'}")
    try:
        from .figures import ncut_figure

        fig = ncut_figure(runs)
    except ImportError:
        say("matplotlib is not installed: no figure (pip install 'modcore[plot]')")
        return table, None
    with atomic_write(out / "ncut.png", "wb") as f:
        fig.savefig(f, format="png", dpi=120)
    say(f"figure written to {out / 'ncut.png'}")
    return table, "ncut.png"


#: (column stem, run field): mean and std over seeds of each; per label rule, then the
#: test accuracy (the same under both rules).
_MEASURES = [
    (f"{rule}_{stem}", f"{rule}_{key}")
    for rule in RULES
    for stem, key in [("ncut", "ncut")]
    + [
        (f"{null}_{what}", f"{null}_{key}")
        for null in NULLS
        for what, key in (("shuffled_mean", "mean"), ("shuffled_std", "std"), ("z", "z"))
    ]
    + [("random_init_ncut", "random_init_ncut")]
] + [("test_accuracy", "test_accuracy")]


def table_columns() -> list:
    """The columns of ``table.csv``."""
    cols = ["dataset", "condition", "seeds"]
    for stem, _ in _MEASURES:
        cols += [f"{stem}_mean", f"{stem}_std"]
        if stem.endswith("_z"):
            cols.append(stem[:-2] + "_significant")
    return cols


def aggregate(runs) -> pandas.DataFrame:
    """One row per data set and condition: mean and std (ddof 1) over seeds, and per rule
    and null the share of seeds with p < 0.05 (``<rule>_<null>_significant``). A rule a
    run was not clustered by (runs written when one rule was kept) is NaN."""
    import pandas as pd

    runs = [_by_rule(r) for r in runs]
    rows = []
    names = list(dict.fromkeys(r["dataset"] for r in runs))
    for name in names:
        for cond in ALL_CONDITIONS:
            group = [r for r in runs if r["dataset"] == name and r["condition"] == cond]
            if not group:
                continue
            row = {"dataset": name, "condition": cond, "seeds": len(group)}
            for stem, key in _MEASURES:
                values = np.array([r.get(key, math.nan) for r in group], dtype=float)
                row[f"{stem}_mean"] = float(values.mean())
                row[f"{stem}_std"] = float(values.std(ddof=1)) if len(values) > 1 else math.nan
                if stem.endswith("_z"):
                    p = np.array([r.get(f"{stem[:-2]}_p", math.nan) for r in group], float)
                    row[f"{stem[:-2]}_significant"] = (
                        float(np.mean(p < 0.05)) if not np.isnan(p).any() else math.nan
                    )
            rows.append(row)
    return pd.DataFrame(rows, columns=table_columns())


def to_markdown(table, *, seeds=None, conditions=None) -> str:
    """The table as Markdown, ``mean ± std`` over seeds: one table per label rule, each
    under a heading naming it (``#### authors: ...``). With ``seeds`` (the seeds asked
    for), a table that holds fewer for a condition of ``conditions`` (default: the
    paper's four) says so, with the seeds each condition holds."""
    conditions = list(CONDITIONS if conditions is None else conditions)

    def pm(row, stem, digits):
        mean, std = row[f"{stem}_mean"], row[f"{stem}_std"]
        if math.isnan(mean):
            return "not computed"
        text = f"{mean:.{digits}f}"
        return text if math.isnan(std) else f"{text} ± {std:.{digits}f}"

    parts = []
    held = {(r["dataset"], r["condition"]): int(r["seeds"]) for _, r in table.iterrows()}
    names = list(dict.fromkeys(table["dataset"]))
    if seeds is not None and (
        not names or any(held.get((n, c), 0) < seeds for n in names for c in conditions)
    ):
        counts = "; ".join(
            f"{n}: " + ", ".join(f"{c} {held.get((n, c), 0)}" for c in conditions) for n in names
        )
        parts.append(
            f"Partial: {seeds} seeds per condition asked for; seeds held: {counts or 'none'}."
        )
    for rule, (what, _) in RULES.items():
        head = ["data set", "condition", "seeds", "test acc.", "n-cut", "random init n-cut"]
        for null in NULLS:
            head += [
                f"{null}: shuffled mean",
                f"{null}: shuffled std",
                f"{null}: z",
                f"{null}: p < 0.05",
            ]
        lines = [
            f"#### {rule}: {what}",
            "| " + " | ".join(head) + " |",
            "|" + "---|" * len(head),
        ]
        for _, row in table.iterrows():
            cells = [
                row["dataset"],
                row["condition"],
                str(row["seeds"]),
                pm(row, "test_accuracy", 4),
                pm(row, f"{rule}_ncut", 3),
                pm(row, f"{rule}_random_init_ncut", 3),
            ]
            for null in NULLS:
                share = row[f"{rule}_{null}_significant"]
                cells += [
                    pm(row, f"{rule}_{null}_shuffled_mean", 3),
                    pm(row, f"{rule}_{null}_shuffled_std", 3),
                    pm(row, f"{rule}_{null}_z", 2),
                    "not computed"
                    if math.isnan(share)
                    else f"{round(share * row['seeds'])}/{row['seeds']}",
                ]
            lines.append("| " + " | ".join(cells) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)
