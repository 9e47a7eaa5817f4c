"""modcore.report.html: summary.json, the PNGs and index.html, checked in headless Chromium."""

import html
import json
import platform
import re
import struct

import numpy as np
import pytest

import modcore
from browser import layout_in_chromium, load_in_chromium, needs_chromium
from modcore.network.synthetic import planted_modular_mlp, random_pruned_mlp

pytest.importorskip("matplotlib")
import matplotlib
import matplotlib.image

from modcore.report.html import summary, write_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EXTRA = {"command": "modcore analyze net.npz", "training": {"dataset": "line", "seed": 0}}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    weights, _ = planted_modular_mlp((16, 12, 12, 8), 3, noise=0.02, seed=0)
    sigs = {
        name: modcore.ncut_significance(
            weights, n_clusters=3, n_shuffles=19, shuffle=name, seed=0, progress=False
        )
        for name in ("layer", "layer_nonzero")
    }
    out = tmp_path_factory.mktemp("report")
    index = write_report(out, weights, sigs, EXTRA)
    return out, index, weights, sigs


def test_files_are_written(report):
    out, index, _, _ = report
    assert index == out / "index.html"
    assert sorted(p.name for p in out.iterdir()) == [
        "index.html",
        "module_sizes.png",
        "network.png",
        "null_layer.png",
        "null_layer_nonzero.png",
        "summary.json",
        "weights.png",
    ]


def test_summary_json_round_trips_with_everything_to_redo_the_run(report):
    out, _, _weights, sigs = report
    saved = json.loads((out / "summary.json").read_text())
    assert list(saved) == [
        "command",
        "training",
        "versions",
        "layer_sizes",
        "group_names",
        "eigen_method",
        "n_clusters",
        "n_init",
        "seed",
        "ncut",
        "modularity",
        "in_out_ratio",
        "labels",
        "eigenvalues",
        "nulls",
    ]
    assert saved["group_names"] == ["layer 0", "layer 1", "layer 2", "layer 3"]
    assert saved["eigen_method"] == "dense"  # "auto" with 48 units (<= 300)
    assert saved["command"] == EXTRA["command"] and saved["training"] == EXTRA["training"]
    versions = saved["versions"]
    assert versions["modcore"] == modcore.__version__ and versions["numpy"] == np.__version__
    assert versions["matplotlib"] == matplotlib.__version__
    assert versions["python"] == platform.python_version()
    assert saved["layer_sizes"] == [16, 12, 12, 8]
    assert (saved["n_clusters"], saved["n_init"], saved["seed"]) == (3, 10, 0)
    sig = sigs["layer"]
    assert saved["ncut"] == sig.ncut
    assert saved["labels"] == [lab.tolist() for lab in sig.labels]
    assert saved["eigenvalues"] == sig.clustering.eigenvalues.tolist()
    for name, sig in sigs.items():
        null = saved["nulls"][name]
        assert null["shuffled_ncuts"] == sig.shuffled_ncuts.tolist()
        assert (null["z_score"], null["p_value"], null["shuffle"]) == (
            sig.z_score,
            sig.p_value,
            name,
        )
        # Three planted modules against 19 shuffles: more modular than every shuffle.
        assert null["p_value"] == pytest.approx(1 / 20) and null["n_shuffles"] == 19
        assert not {"labels", "eigenvalues", "ncut", "seed", "modularity"} & set(null)  # once


def test_pngs_are_valid_and_of_sensible_size(report):
    out, _, _, _ = report
    for path in out.glob("*.png"):
        head = path.read_bytes()[:24]
        assert head[:8] == PNG_SIGNATURE and head[12:16] == b"IHDR", path.name
        width, height = struct.unpack(">II", head[16:24])
        assert 300 <= width <= 3000 and 300 <= height <= 2000, (path.name, width, height)
        assert matplotlib.image.imread(path).shape[:2] == (height, width)


def test_html_is_static_with_relative_links(report):
    out, index, _, _ = report
    page = index.read_text(encoding="utf-8")
    assert "<script" not in page
    links = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert len(links) == 6  # five figures and summary.json
    for link in links:
        assert (out / link).is_file() and "/" not in link


def test_summary_refuses_nulls_of_different_clusterings(report):
    _, _, weights, sigs = report
    other = modcore.ncut_significance(weights, n_clusters=4, n_shuffles=5, seed=0, progress=False)
    with pytest.raises(ValueError, match="another clustering"):
        summary(weights, {"layer": sigs["layer"], "k4": other})
    with pytest.raises(ValueError, match="empty"):
        summary(weights, {})


@needs_chromium
def test_html_loads_in_headless_chromium_and_shows_the_numbers(report):
    _, index, _, sigs = report
    dom, console = load_in_chromium(index)
    assert console == []
    assert 'data-loaded="5"' in dom
    sig = sigs["layer"]
    assert f'<strong id="ncut">{sig.ncut:.4f}</strong>' in dom
    for value in (f"{sig.shuffled_mean:.4f}", f"{sig.z_score:.2f}", f"{sig.p_value:.4g}"):
        assert f"<td>{value}</td>" in dom


def test_html_states_each_verdict_with_what_its_null_controls_for(report):
    _, index, _, sigs = report
    page = index.read_text(encoding="utf-8")
    verdicts = re.search(r'<ul id="verdicts">(.*?)</ul>', page, re.DOTALL).group(1)
    items = re.findall(r"<li><strong>(.*?)</strong><br>(.*?)</li>", verdicts, re.DOTALL)
    assert len(items) == len(sigs)
    for (said, null), (name, sig) in zip(items, sigs.items()):
        said = html.unescape(said)
        # Planted modules against 19 shuffles: p = 1/20, significant at the 5% level.
        assert sig.p_value <= 0.05
        assert said == (
            f"more modular than 19 '{name}' shuffles: z = {sig.z_score:.2f}, p = {sig.p_value:.2g}"
        )
        assert html.unescape(null).startswith(f"'{name}' null: ")
    assert 'id="note"' not in page


def test_html_says_not_significant_and_shows_a_note(tmp_path):
    # A random pruned net is no more modular than its shuffles: the page says so.
    weights = random_pruned_mlp((30, 20, 20, 10), sparsity=0.5, seed=0)
    sig = modcore.ncut_significance(weights, n_clusters=3, n_shuffles=39, seed=0, progress=False)
    extra = {"note": "trained on synthetic data & not the paper's"}
    page = write_report(tmp_path, weights, {"layer": sig}, extra).read_text(encoding="utf-8")
    said = html.unescape(re.search(r"<li><strong>(.*?)</strong>", page).group(1))
    assert said.startswith("more modular than") == (sig.p_value <= 0.05)
    assert said.startswith("not") == (sig.p_value > 0.05)
    assert "<strong>Note:</strong> trained on synthetic data &amp; not the paper&#x27;s" in page


@needs_chromium
def test_figures_are_shown_at_their_own_size_in_a_1280_pixel_window(tmp_path):
    # The demo's network shape (784-256x4-10, five weight matrices, k = 12).
    weights = random_pruned_mlp(seed=0)
    sigs = {
        name: modcore.ncut_significance(
            weights, n_clusters=12, n_shuffles=5, shuffle=name, seed=0, progress=False
        )
        for name in ("layer", "layer_nonzero")
    }
    index = write_report(tmp_path, weights, sigs, EXTRA)
    shot = tmp_path / "screenshot.png"
    layout = layout_in_chromium(index, shot, width=1280)
    assert layout["client_width"] == 1280
    assert layout["scroll_width"] <= layout["client_width"]  # no horizontal overflow
    screen = matplotlib.image.imread(shot)[..., :3]
    assert screen.shape[:2] == (layout["height"], 1280)
    assert len(layout["images"]) == 5
    for image in layout["images"]:
        (natural_w, natural_h), (x, y, w, h) = image["natural"], image["box"]
        # Shown at its own size (text as drawn: about 14 px at 10 pt and 100 dpi), not
        # squeezed to fit, and inside the window.
        assert (w, h) == (natural_w, natural_h), image
        assert 0 <= x and x + w <= 1280, image
        # The screenshot shows the figure itself there, pixel for pixel (on white).
        png = matplotlib.image.imread(tmp_path / image["src"])
        expected = png[..., :3] * png[..., 3:] + (1 - png[..., 3:])
        crop = screen[round(y) : round(y) + int(h), round(x) : round(x) + int(w)]
        assert np.abs(crop - expected).mean() < 0.01, image


def test_the_page_explains_q_and_shows_no_q_z_score(tmp_path):
    """Two scores that may disagree are never on a page without the sentence that
    explains them: Q is shown as a description, with that sentence, and no Q z-score."""
    from modcore.report.html import Q_NOTE

    w, _ = planted_modular_mlp([15, 15, 15], n_modules=3, noise=0.2, seed=1)
    sig = modcore.ncut_significance(w, n_clusters=3, n_shuffles=9, seed=0, progress=False)
    page = write_report(tmp_path, w, {"layer": sig}).read_text()
    assert "Q z-score" not in page and f"{sig.modularity_z:.2f}</td>" not in page
    assert html.escape(Q_NOTE) in page and "not tested" in Q_NOTE
    assert "How k was chosen: k = 3 was given." in page
