"""modcore.report.plot: each figure holds what it should, on tiny networks."""

import sys

import numpy as np
import pytest

import modcore
from modcore.network.synthetic import planted_modular_mlp

pytest.importorskip("matplotlib")
import matplotlib.colors
from matplotlib.collections import LineCollection

from modcore.report import plot

SIZES = (12, 9, 9, 6)


@pytest.fixture(scope="module")
def net():
    weights, _ = planted_modular_mlp(SIZES, 3, noise=0.02, seed=0)
    weights[0][0] = 0.0  # neuron 0 of layer 0 loses its edges: label -1
    sig = modcore.ncut_significance(weights, n_clusters=3, n_shuffles=15, seed=0, progress=False)
    assert sig.labels[0][0] == -1
    return weights, sig


def by_module(labels):
    """The order the figures sort neurons in: by module, -1 last, stable."""
    return np.array(sorted(range(len(labels)), key=lambda i: (labels[i] < 0, labels[i])))


def test_null_histogram_counts_every_shuffle_and_marks_the_network(net):
    _, sig = net
    (ax,) = plot.null_histogram(sig).axes
    assert sum(bar.get_height() for bar in ax.patches) == sig.n_shuffles
    assert [line.get_xdata()[0] for line in ax.lines] == [sig.ncut]
    title = " ".join(ax.get_title().split())  # wrapped to fit
    assert f"z = {sig.z_score:.2f}" in title and f"p = {sig.p_value:.2g}" in title
    # The verdict in words: 15 shuffles cannot reach p <= 0.05 (1/16 = 0.0625), and say so.
    assert sig.p_value == pytest.approx(1 / 16)
    assert title.startswith("not significantly more modular than 15 'layer' shuffles")
    assert "with 15 shuffles p cannot go below 0.062" in title


def test_network_modules_draws_every_neuron_and_a_bounded_number_of_edges(net):
    weights, sig = net
    (ax,) = plot.network_modules(weights, sig.labels, edges_per_layer=5).axes
    edges, neurons = ax.collections
    assert isinstance(edges, LineCollection) and len(edges.get_segments()) == 5 * len(weights)
    assert len(neurons.get_offsets()) == sum(SIZES)
    labels = np.concatenate(sig.labels)
    colors = [tuple(c) for c in neurons.get_facecolors()]
    by_label = {}
    for label, color in zip(labels, colors):
        assert by_label.setdefault(label, color) == color  # one colour per module
    assert len(set(by_label.values())) == len(by_label)  # distinct between modules
    # Every edge is drawn at most once, so all of a tiny layer's edges fit the bound.
    (ax,) = plot.network_modules(weights, sig.labels, edges_per_layer=10**6).axes
    assert len(ax.collections[0].get_segments()) == sum(np.count_nonzero(w) for w in weights)


def test_network_modules_has_a_legend_and_labelled_axes(net):
    weights, sig = net
    (ax,) = plot.network_modules(weights, sig.labels).axes
    assert ax.get_xlabel() and "module 0 at the bottom" in ax.get_ylabel()
    legend = ax.get_legend()
    texts = [t.get_text() for t in legend.get_texts()]
    assert texts == [
        "module 0",
        "module 1",
        "module 2",
        "unit without edges",
        "weight within a module\n(the module's colour)",
        "weight between modules",
    ]
    # Each module's legend colour is its units' colour in the drawing.
    units = ax.collections[1].get_facecolors()
    labels = np.concatenate(sig.labels)
    for m, handle in enumerate(legend.legend_handles[:3]):
        np.testing.assert_allclose(
            matplotlib.colors.to_rgba(handle.get_color()), units[labels == m][0]
        )
    # Vertical order: module 0's units of each layer lie below module 1's.
    heights = np.split(ax.collections[1].get_offsets()[:, 1], np.cumsum(SIZES)[:-1])
    for lab, y in zip(sig.labels, heights):
        assert y[lab == 0].max() < y[lab == 1].min()


def test_sorted_weights_fits_a_page_with_many_layers():
    # Five matrices (the demo's MLP): three to a row, no wider than a 1120-pixel page at
    # the report's 100 dpi, so the text is not shrunk.
    widths = [40, 20, 20, 20, 20, 10]
    weights, _ = planted_modular_mlp(widths, 2, noise=0.02, seed=0)
    labels = [np.arange(n) % 2 for n in widths]
    fig = plot.sorted_weights(weights, labels)
    assert len(fig.axes) == 5 + 1
    assert fig.get_size_inches()[0] * 100 <= 1120
    rows = {round(ax.get_position().y0, 2) for ax in fig.axes[:5]}
    assert len(rows) == 2


def test_sorted_weights_shows_each_matrix_sorted_by_module(net):
    weights, sig = net
    fig = plot.sorted_weights(weights, sig.labels)
    assert len(fig.axes) == len(weights) + 1  # and the colour bar
    for l, (w, ax) in enumerate(zip(weights, fig.axes)):
        (image,) = ax.images
        rows, cols = by_module(sig.labels[l]), by_module(sig.labels[l + 1])
        expected = np.abs(w)[np.ix_(rows, cols)]
        shown = image.get_array()
        np.testing.assert_array_equal(shown.filled(0), expected)
        np.testing.assert_array_equal(np.ma.getmaskarray(shown), expected == 0)
    # The planted modules are diagonal blocks: heavier inside than across.
    block = fig.axes[1].images[0].get_array().filled(0)
    same = (
        sig.labels[1][by_module(sig.labels[1])][:, None] == sig.labels[2][by_module(sig.labels[2])]
    )
    assert block[same].mean() > 10 * block[~same].mean()


def test_module_sizes_stacks_a_bar_per_layer_and_module(net):
    _, sig = net
    (ax,) = plot.module_sizes(sig.labels).axes
    # 3 modules plus "no edges" (layer 0 has a dropped neuron), one bar per layer each.
    assert len(ax.patches) == 4 * len(SIZES)
    tops = np.zeros(len(SIZES))
    for bar in ax.patches:
        tops[round(bar.get_x() + bar.get_width() / 2)] += bar.get_height()
    np.testing.assert_allclose(tops, 1.0)


def test_labels_must_match_the_layers(net):
    weights, sig = net
    with pytest.raises(ValueError, match="layer sizes"):
        plot.sorted_weights(weights, sig.labels[:-1])
    with pytest.raises(ValueError, match="layer sizes"):
        plot.network_modules(weights, [lab[:-1] for lab in sig.labels])


def test_missing_matplotlib_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"modcore\[plot\]"):
        plot.module_sizes([np.array([0, 1])])
