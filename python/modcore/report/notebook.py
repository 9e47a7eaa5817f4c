"""How results show in Jupyter: the ``_repr_html_`` of Clustering, Significance and
LesionStudy, a compact table of their key numbers (and the null histogram, inline as a
PNG, when matplotlib is installed). All text is HTML-escaped.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING, Any

import numpy as np

from ..common.display import renders

if TYPE_CHECKING:
    from ..method.cluster import Clustering
    from ..method.significance import Significance
    from ..nn.lesion.results import LesionStudy

_STYLE = "border-collapse: collapse; text-align: left"
_CELL = "padding: 0.15em 0.8em 0.15em 0"


def _table(caption: str, rows: Sequence[Sequence[Any]], *, header: Sequence[str] = ()) -> str:
    """A table of escaped cells: one row per tuple, an optional header row."""
    head = "".join(f'<th style="{_CELL}">{escape(str(h))}</th>' for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td style="{_CELL}">{escape(str(c))}</td>' for c in row) + "</tr>"
        for row in rows
    )
    return (
        f'<table style="{_STYLE}"><caption style="text-align: left"><b>{escape(caption)}</b>'
        f"</caption>{f'<tr>{head}</tr>' if head else ''}{body}</table>"
    )


def _module_sizes(labels: Sequence[np.ndarray], n_clusters: int) -> list[int]:
    flat = np.concatenate(labels) if len(labels) else np.empty(0, np.int64)
    return np.bincount(flat[flat >= 0], minlength=n_clusters).tolist()


@renders("modcore.method.cluster.Clustering")
def clustering_html(c: Clustering) -> str:
    from ..method.cluster import dropped_text

    sizes = _module_sizes(c.labels, c.n_clusters)
    groups = ", ".join(f"{name} ({len(lab)})" for name, lab in zip(c.group_names, c.labels))
    return _table(
        "Clustering",
        [
            ("n-cut", f"{c.ncut:.4f}"),
            ("modularity Q", f"{c.modularity:.4f}"),
            ("modules k", c.n_clusters),
            ("module sizes", sizes),
            ("units dropped", dropped_text(c)),
            ("weights", "rescaled" if c.normalize else "as given"),
            ("groups (units)", groups),
            ("labels", f"{c.assign_labels}, refine={c.refine}"),
            ("eigensolver", c.eigen_method),
            ("connected components", c.n_components),
            ("seed", c.seed),
        ],
    )


def _histogram_png(sig: Significance) -> str:
    """The null histogram as an inline <img>, or "" without matplotlib."""
    try:
        from .plot import null_histogram

        fig = null_histogram(sig)
    except ImportError:
        return ""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=72)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    alt = escape(f"histogram of {sig.n_shuffles} shuffled n-cuts and the network's")
    return f'<img src="data:image/png;base64,{data}" alt="{alt}" style="max-width: 36em">'


@renders("modcore.method.significance.Significance")
def significance_html(s: Significance) -> str:
    table = _table(
        f"Significance against the {s.shuffle!r} null",
        [
            ("n-cut", f"{s.ncut:.4f}"),
            ("shuffled n-cut", f"{s.shuffled_mean:.4f} ± {s.shuffled_std:.4f}"),
            ("z-score", f"{s.z_score:.2f}"),
            ("p-value", f"{s.p_value:.4g}"),
            ("percentile", f"{s.percentile:.1f}"),
            # Q of the n-cut modules describes them; its z is not a test of Q (user guide).
            ("Newman's Q of these modules", f"{s.modularity:.4f}"),
            ("shuffles", s.n_shuffles),
            ("modules k", s.n_clusters),
            ("seed", s.seed),
        ],
    )
    return f'<div style="display: flex; gap: 1em">{table}{_histogram_png(s)}</div>'


@renders("modcore.nn.lesion.results.LesionStudy")
def lesion_study_html(study: LesionStudy) -> str:
    summary = _table(
        "LesionStudy",
        [
            ("base accuracy", f"{study.base_accuracy:.4f} ({study.n_test} test examples)"),
            ("rule", study.rule_text()),
            ("sub-modules (tested)", f"{len(study.single)} ({study.n_tested})"),
            ("important", len(study.important)),
            ("random lesions", study.random_lesions),
            ("pairs", len(study.pairs)),
            ("seed", study.seed),
        ],
    )
    important = _table(
        "Important sub-modules",
        [
            (s.name, s.size, f"{100 * s.drop:.2f}", f"{s.z_score:.2f}", f"{s.p_value:.3g}")
            for s in study.important
        ],
        header=("sub-module", "units", "drop (pp)", "z", "p"),
    )
    return summary + (important if study.important else "")
