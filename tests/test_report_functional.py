"""The functional-modules part of the report: the coactivation figure against scipy's
Spearman correlations, the section in write_report and on its own page, and bad input."""

import json
import re

import numpy as np
import pytest
import scipy.stats

import modcore
from browser import load_in_chromium, needs_chromium

torch = pytest.importorskip("torch")
pytest.importorskip("matplotlib")
from torch import nn

from modcore.report.functional import (
    coactivation_matrix,
    functional_summary,
    write_functional_report,
)
from modcore.report.html import write_report

pytestmark = [
    pytest.mark.usefixtures("torch_one_thread"),
    pytest.mark.filterwarnings("ignore:dropped .* zero variance:UserWarning"),
]


@pytest.fixture(scope="module")
def results():
    """Three blocks of units, each reading its own inputs, plus weak links between
    them; some output units are cut off entirely (constant: dropped)."""
    g = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 12), nn.ReLU(), nn.Linear(12, 9), nn.ReLU())
    with torch.no_grad():
        for layer in (model[0], model[2]):
            n_out, n_in = layer.weight.shape
            blocks = torch.block_diag(*[torch.ones(n_out // 3, n_in // 3)] * 3)
            w = torch.rand(n_out, n_in, generator=g)
            layer.weight.copy_(blocks * (0.5 + w) + (1 - blocks) * 0.05 * w)
            layer.bias.zero_()
        model[2].weight[:2].zero_()  # two output units never fire
    x = torch.rand(300, 12, generator=g)
    # k = 2 functional modules against 3 weight modules: the two orders differ
    fm = modcore.functional_modules(model, x, n_clusters=2, n_shuffles=19, seed=0, progress=False)
    sig = modcore.ncut_significance(model, n_clusters=3, n_shuffles=19, seed=0, progress=False)
    cmp = modcore.compare_modules(fm, sig, n_permutations=49, seed=0)
    return model, fm, sig, cmp


def compared_units(fm, sig):
    """Rows of the activations and both labels of the units in a module in both results,
    in group order, found from the labels alone."""
    rows, f_lab, w_lab = [], [], []
    acts = fm.activations
    for g, name in enumerate(fm.group_names):
        w = sig.labels[sig.clustering.group_names.index(name)]
        for i, f in enumerate(fm.labels[g]):
            if f >= 0 and w[i] >= 0:
                rows.append(np.flatnonzero((acts.unit_group == g) & (acts.unit_index == i))[0])
                f_lab.append(f)
                w_lab.append(w[i])
    return np.array(rows), np.array(f_lab), np.array(w_lab)


def squared_spearman(values):
    r = scipy.stats.spearmanr(values, axis=1).statistic ** 2
    np.fill_diagonal(r, np.nan)  # no unit is paired with itself
    return r


def shown(ax):
    return np.ma.filled(ax.images[0].get_array().astype(float), np.nan)


def test_the_figure_is_the_spearman_matrix_ordered_by_module(results):
    _, fm, sig, _ = results
    rows, f_lab, w_lab = compared_units(fm, sig)
    assert len(fm.activations.dropped) == 2 and len(rows) == 19
    left, right, _ = coactivation_matrix(fm, sig).axes
    for ax, labels in ((left, w_lab), (right, f_lab)):
        order = np.argsort(labels, kind="stable")
        expected = squared_spearman(fm.activations.values[rows[order]])
        np.testing.assert_allclose(shown(ax), expected, rtol=1e-9, atol=1e-12)
        # one line per module boundary, across and down
        cuts = np.flatnonzero(np.diff(labels[order])) + 0.5
        hlines, vlines = ax.collections
        np.testing.assert_allclose(sorted(s[0][1] for s in hlines.get_segments()), cuts)
        np.testing.assert_allclose(sorted(s[0][0] for s in vlines.get_segments()), cuts)


def test_above_max_pixels_each_pixel_is_the_mean_over_two_runs_of_units(results):
    _, fm, sig, _ = results
    rows, _, w_lab = compared_units(fm, sig)
    order = np.argsort(w_lab, kind="stable")
    full = squared_spearman(fm.activations.values[rows[order]])
    bins = np.arange(19) * 5 // 19  # 19 units in 5 runs of 4 or 3
    expected = np.array(
        [[np.nanmean(full[np.ix_(bins == a, bins == b)]) for b in range(5)] for a in range(5)]
    )
    left = coactivation_matrix(fm, sig, max_pixels=5).axes[0]
    np.testing.assert_allclose(shown(left), expected, rtol=1e-9)


def test_write_report_adds_the_functional_section(results, tmp_path):
    model, fm, sig, cmp = results
    index = write_report(tmp_path, model, {"layer": sig}, functional=fm, comparison=cmp)
    assert (tmp_path / "coactivation.png").is_file()
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["functional"] == json.loads(json.dumps(fm.to_dict()))
    assert saved["comparison"]["nmi"]["null"] == cmp.nmi.null.tolist()
    assert saved["comparison"]["within_mean"] == cmp.within_mean
    page = index.read_text()
    assert f'<strong id="functional-ncut">{fm.ncut:.4f}</strong>' in page
    assert f'<strong id="within">{cmp.within_mean:.4g}</strong>' in page
    assert f'<strong id="between">{cmp.between_mean:.4g}</strong>' in page
    for name, t in (
        ("NMI", cmp.nmi),
        ("adjusted Rand", cmp.ari),
        ("transfer n-cut", cmp.transfer_ncut),
    ):
        row = f"<tr><td>{name}</td><td>{t.value:.4f}</td><td>{t.mean:.4f}</td><td>{t.std:.4f}</td>"
        assert row in page, name
        assert f"<td>{t.p_value:.4g}</td>" in page
    links = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert "coactivation.png" in links and all((tmp_path / link).is_file() for link in links)
    # Without functional results, no section and no figure.
    plain = tmp_path / "plain"
    write_report(plain, model, {"layer": sig})
    assert "Functional modules" not in (plain / "index.html").read_text()
    assert not (plain / "coactivation.png").exists()


def test_the_functional_page_on_its_own(results, tmp_path):
    _, fm, sig, cmp = results
    extra = {"command": "modcore functional net.pt", "dataset": "synthetic"}
    index = write_functional_report(tmp_path, fm, cmp, sig, extra)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "coactivation.png",
        "index.html",
        "summary.json",
    ]
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert list(saved) == [
        "command",
        "dataset",
        "versions",
        "functional",
        "comparison",
        "weight",
    ]
    assert saved["weight"]["labels"] == [lab.tolist() for lab in sig.labels]
    assert saved == json.loads(json.dumps(functional_summary(fm, cmp, sig, extra)))
    page = index.read_text()
    assert "<script" not in page and f"{cmp.nmi.value:.4f}" in page
    assert "modcore functional net.pt" in page


def test_mismatched_or_partial_functional_results_are_refused(results, tmp_path):
    model, fm, sig, cmp = results
    with pytest.raises(ValueError, match="go together"):
        write_report(tmp_path, model, {"layer": sig}, functional=fm)
    with pytest.raises(ValueError, match="go together"):
        write_report(tmp_path, model, {"layer": sig}, comparison=cmp)
    # A comparison of other units: weight modules that share only group "0".
    other = modcore.compare_modules(
        fm,
        modcore.spectral_cluster(
            modcore.Network.from_weights(
                [model[0].weight.detach().numpy().T, model[2].weight.detach().numpy().T],
                names=["input", "0", "x"],
            ),
            n_clusters=3,
            seed=0,
        ),
        n_permutations=9,
        seed=0,
    )
    with pytest.raises(ValueError, match="comparison is not of these results"):
        write_report(tmp_path, model, {"layer": sig}, functional=fm, comparison=other)
    with pytest.raises(TypeError, match="comparison must be a ModuleComparison"):
        write_functional_report(tmp_path, fm, cmp.to_dict(), sig)
    with pytest.raises(TypeError, match="functional must be a FunctionalModules"):
        coactivation_matrix(fm.to_dict(), sig)
    with pytest.raises(ValueError, match="max_pixels"):
        coactivation_matrix(fm, sig, max_pixels=0)
    assert not any(tmp_path.iterdir())  # refused before anything is written


@needs_chromium
def test_both_pages_load_in_headless_chromium(results, tmp_path):
    model, fm, sig, cmp = results
    index = write_report(tmp_path / "full", model, {"layer": sig}, functional=fm, comparison=cmp)
    dom, console = load_in_chromium(index)
    assert console == [] and 'data-loaded="5"' in dom  # four weight figures and coactivation
    assert f'<strong id="functional-ncut">{fm.ncut:.4f}</strong>' in dom
    dom, console = load_in_chromium(write_functional_report(tmp_path / "alone", fm, cmp, sig))
    assert console == [] and 'data-loaded="1"' in dom
