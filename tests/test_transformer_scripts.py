"""The transformer experiment scripts (modcore.experiments.transformer_*): their shared
permutation score against scikit-learn, the grokking figure's panels against its rows."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from modcore.experiments import transformer_grokking as grokking
from modcore.experiments.permutation_null import nmi_permutation_test


def test_nmi_permutation_test_against_sklearn():
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 3, 40)
    labels = np.where(rng.random(40) < 0.7, truth, rng.integers(0, 3, 40))
    nmi, ari, p, null95 = nmi_permutation_test(labels, truth, np.random.default_rng(5), 50)
    assert nmi == pytest.approx(normalized_mutual_info_score(labels, truth))
    assert ari == pytest.approx(adjusted_rand_score(labels, truth))
    draws = np.random.default_rng(5)
    null = [normalized_mutual_info_score(labels, draws.permutation(truth)) for _ in range(50)]
    assert p == pytest.approx((1 + sum(v >= nmi - 1e-12 for v in null)) / 51)
    assert null95 == pytest.approx(np.quantile(null, 0.95))
    # no permutation: p is 1 and there is no null to take a percentile of
    _, _, p0, q0 = nmi_permutation_test(labels, truth, np.random.default_rng(5), 0)
    assert p0 == 1.0 and np.isnan(q0)


def test_grokking_figure_panels_draw_each_view_from_its_columns():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = ["_ncut", "_null_mean", "_nmi", "_nmi_null95", "_nmi_clean"]
    rows = [
        {
            "step": s,
            **{
                v + c: 10 * i + j + s
                for i, v in enumerate(("blocks", "virtual"))
                for j, c in enumerate(columns)
            },
        }
        for s in (0, 250, 500)
    ]
    fig, (left, right) = plt.subplots(1, 2)
    try:
        for ax, lines in ((left, grokking._NCUT_LINES), (right, grokking._NMI_LINES)):
            grokking._view_panel(ax, rows, lines, "y", "title")
            want = [(v, c) for v in ("blocks", "virtual") for c, *_ in lines]
            drawn = ax.get_lines()
            assert len(drawn) == len(want)
            for line, (view, column) in zip(drawn, want):
                assert list(line.get_xdata()) == [0, 250, 500]
                assert list(line.get_ydata()) == [r[view + column] for r in rows]
                assert line.get_label().startswith(view)
            assert ax.get_legend() is not None
    finally:
        plt.close(fig)
