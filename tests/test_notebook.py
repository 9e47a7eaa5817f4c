"""_repr_html_ of Clustering, Significance and LesionStudy: the key numbers in a table,
text escaped, and the null histogram inline when matplotlib is installed."""

import base64
import dataclasses
import sys
from html.parser import HTMLParser

import numpy as np
import pytest

import modcore
from modcore.network.synthetic import planted_modular_mlp


class _Cells(HTMLParser):
    """Table cells as text, tags seen, and <img> sources."""

    def __init__(self, html):
        super().__init__()
        self.cells, self.tags, self.images, self._cell = [], [], [], None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag in ("td", "th"):
            self._cell = ""
        if tag == "img":
            self.images.append(dict(attrs)["src"])

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.cells.append(self._cell)
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def _row(cells, key):
    """The cell after the one that reads ``key``."""
    return cells[cells.index(key) + 1]


@pytest.fixture(scope="module")
def planted():
    weights, _ = planted_modular_mlp([12, 12, 12], n_modules=2, seed=0)
    net = modcore.Network.from_weights(weights, names=["<b>in</b>", "hidden & co", "out"])
    return net


def test_clustering_table_shows_its_numbers_and_escapes_group_names(planted):
    c = modcore.spectral_cluster(planted, n_clusters=2, seed=0)
    html = c._repr_html_()
    parsed = _Cells(html)
    assert float(_row(parsed.cells, "n-cut")) == pytest.approx(c.ncut, abs=5e-5)
    assert float(_row(parsed.cells, "modularity Q")) == pytest.approx(c.modularity, abs=5e-5)
    sizes = np.bincount(np.concatenate(c.labels)[np.concatenate(c.labels) >= 0])
    assert _row(parsed.cells, "module sizes") == str(sizes.tolist())
    assert _row(parsed.cells, "seed") == str(c.seed)
    # The group names are text, not markup: no <b> but the caption's.
    assert _row(parsed.cells, "groups (units)") == "<b>in</b> (12), hidden & co (12), out (12)"
    assert parsed.tags.count("b") == 1
    assert "&lt;b&gt;in&lt;/b&gt;" in html and "hidden &amp; co" in html


@pytest.fixture(scope="module")
def significance(planted):
    return modcore.ncut_significance(planted, n_clusters=2, n_shuffles=20, seed=0, progress=False)


def test_significance_table_and_inline_histogram(significance):
    pytest.importorskip("matplotlib")
    s = significance
    parsed = _Cells(s._repr_html_())
    assert float(_row(parsed.cells, "n-cut")) == pytest.approx(s.ncut, abs=5e-5)
    assert float(_row(parsed.cells, "z-score")) == pytest.approx(s.z_score, abs=5e-3)
    assert float(_row(parsed.cells, "p-value")) == pytest.approx(s.p_value, rel=1e-3)
    assert _row(parsed.cells, "shuffles") == "20"
    mean, std = _row(parsed.cells, "shuffled n-cut").split(" ± ")
    assert float(mean) == pytest.approx(np.mean(s.shuffled_ncuts), abs=5e-5)
    assert float(std) == pytest.approx(np.std(s.shuffled_ncuts, ddof=1), abs=5e-5)
    [src] = parsed.images
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix)
    assert base64.b64decode(src[len(prefix) :])[:8] == b"\x89PNG\r\n\x1a\n"


def test_significance_without_matplotlib_is_the_table_alone(significance, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    parsed = _Cells(significance._repr_html_())
    assert parsed.images == []
    assert float(_row(parsed.cells, "n-cut")) == pytest.approx(significance.ncut, abs=5e-5)


@pytest.fixture(scope="module")
def study():
    torch = pytest.importorskip("torch")
    from modcore.nn import MLP, lesion_study

    model = MLP([6, 8, 8, 3], seed=0)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(200, 6, generator=g), torch.randint(0, 3, (200,), generator=g)
    labels = [np.zeros(6, int), np.repeat([0, 1], 4), np.repeat([0, 1], 4), np.zeros(3, int)]
    return lesion_study(
        model, (x, y), clustering=labels, random_lesions=10, seed=0, progress=False, double=False
    )


def test_lesion_study_table_shows_its_numbers(study):
    parsed = _Cells(study._repr_html_())
    base = _row(parsed.cells, "base accuracy")
    assert float(base.split()[0]) == pytest.approx(study.base_accuracy, abs=5e-5)
    assert base.endswith(f"({study.n_test} test examples)")
    assert _row(parsed.cells, "sub-modules (tested)") == f"4 ({study.n_tested})"
    assert _row(parsed.cells, "important") == str(len(study.important))
    assert _row(parsed.cells, "rule") == study.rule_text()


def test_lesion_study_table_lists_the_important_sub_modules(study):
    # Two sub-modules marked important, whatever this small net's lesions gave.
    marked = [dataclasses.replace(s, important=True) for s in study.single[1:3]]
    study = dataclasses.replace(study, single=[study.single[0], *marked, *study.single[3:]])
    parsed = _Cells(study._repr_html_())
    rows = parsed.cells[parsed.cells.index("sub-module") :]
    rows = [rows[i : i + 5] for i in range(0, len(rows), 5)]
    assert rows[0] == ["sub-module", "units", "drop (pp)", "z", "p"]
    assert [r[0] for r in rows[1:]] == [s.name for s in marked]
    for r, s in zip(rows[1:], marked):
        assert int(r[1]) == s.size
        assert float(r[2]) == pytest.approx(100 * s.drop, abs=5e-3)
        assert float(r[4]) == pytest.approx(s.p_value, rel=5e-3)  # 3 significant digits


def test_lesion_study_without_important_sub_modules_has_no_second_table(study):
    study = dataclasses.replace(
        study, single=[dataclasses.replace(s, important=False) for s in study.single]
    )
    assert "sub-module" not in _Cells(study._repr_html_()).cells


def test_significance_table_shows_q_without_its_z_score(significance):
    """Q of the n-cut modules is described, not tested: its z would be a second,
    possibly disagreeing score (issue 27 item 4)."""
    s = significance
    parsed = _Cells(s._repr_html_())
    assert float(_row(parsed.cells, "Newman's Q of these modules")) == pytest.approx(
        s.modularity, abs=5e-5
    )
    assert f"{s.modularity_z:.2f}" not in parsed.cells
