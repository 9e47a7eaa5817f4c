"""Reports that cannot show the wrong network or lose a file: results carry their
network's fingerprint, outputs never clash, JSON is strict, user strings are escaped,
and the null histograms share one n-cut range (issue 29 item 5)."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

import modcore
from browser import layout_in_chromium, load_in_chromium, needs_chromium
from modcore.cli.outputs import FOLDER_FILES
from modcore.common.files import json_text, write_json
from modcore.common.markup import markdown_text
from modcore.network.synthetic import planted_modular_mlp

matplotlib = pytest.importorskip("matplotlib")

from modcore.report import plot
from modcore.report.html import summary, write_report


def _sig(weights, k=2, seed=0, **kw):
    return modcore.ncut_significance(
        weights, n_clusters=k, n_shuffles=9, seed=seed, progress=False, **kw
    )


@pytest.fixture(scope="module")
def two_nets():
    a, _ = planted_modular_mlp([20, 20, 20], n_modules=2, seed=0)
    b, _ = planted_modular_mlp([20, 20, 20], n_modules=2, seed=1)
    return a, b


# -- fingerprint ------------------------------------------------------------------------


def test_fingerprint_is_the_weights_not_their_storage_or_names(two_nets):
    a, b = two_nets
    dense = modcore.Network.from_weights(a)
    rows, cols = np.nonzero(a[1])
    stored_otherwise = modcore.Network(
        [("x", 20), ("y", 20), ("z", 20)],
        [(0, 1, sp.csr_matrix(a[0])), (1, 2, (rows, cols, a[1][rows, cols]))],
    )
    assert stored_otherwise.blocks[0].dense is None  # really another storage
    assert stored_otherwise.fingerprint == dense.fingerprint
    assert modcore.Network.from_weights(b).fingerprint != dense.fingerprint
    one_weight = [w.copy() for w in a]
    one_weight[1][3, 4] += 1e-9
    assert modcore.Network.from_weights(one_weight).fingerprint != dense.fingerprint
    sign = [w.copy() for w in a]
    sign[0][0, 0] = -sign[0][0, 0] if sign[0][0, 0] else 1.0
    assert modcore.Network.from_weights(sign).fingerprint != dense.fingerprint
    moved = [w.copy() for w in a]  # same values, another place
    moved[0] = moved[0][::-1].copy()
    assert modcore.Network.from_weights(moved).fingerprint != dense.fingerprint


def test_every_result_names_its_network(two_nets):
    a, _ = two_nets
    expected = modcore.Network.from_weights(a).fingerprint
    sig = _sig(a)
    curve = modcore.ncut_curve(a, ks=[2, 3], n_shuffles=5, seed=0, progress=False)
    gap = modcore.eigengap(a, max_k=5, n_shuffles=3, seed=0)
    assert sig.clustering.network_fingerprint == sig.network_fingerprint == expected
    assert curve.network_fingerprint == expected and gap.network_fingerprint == expected
    assert sig.to_dict()["network_fingerprint"] == expected
    assert curve.to_dict()["network_fingerprint"] == expected
    assert gap.to_dict()["network_fingerprint"] == expected


def test_a_report_refuses_results_of_another_network_of_the_same_shape(two_nets, tmp_path):
    a, b = two_nets
    sig_a, sig_b = _sig(a), _sig(b)
    fa = modcore.Network.from_weights(a).fingerprint[:12]
    fb = modcore.Network.from_weights(b).fingerprint[:12]
    with pytest.raises(ValueError, match=rf"significances\['layer'\].*{fb}.*{fa}"):
        write_report(tmp_path / "r", a, {"layer": sig_b})
    with pytest.raises(ValueError, match="another network"):
        summary(a, {"layer": sig_b})
    curve_b = modcore.ncut_curve(b, ks=[2, 3], n_shuffles=5, seed=0, progress=False)
    with pytest.raises(ValueError, match=r"curves\['layer'\]"):
        write_report(tmp_path / "r", a, {"layer": sig_a}, curves={"layer": curve_b})
    gap_b = modcore.eigengap(b, max_k=5, n_shuffles=3, seed=0)
    with pytest.raises(ValueError, match=r"extra\['eigengap'\]"):
        write_report(tmp_path / "r", a, {"layer": sig_a}, {"eigengap": gap_b.to_dict()})
    assert not (tmp_path / "r").exists()  # refused before anything was drawn or written
    assert write_report(tmp_path / "ok", a, {"layer": sig_a}).is_file()


@pytest.mark.parametrize(
    "significances, message",
    [
        ("layer", "significances must be a dict"),
        ({"layer": 0.5}, r"significances\['layer'\] must be a Significance.*got a float"),
    ],
)
def test_a_report_names_a_wrong_argument_type(two_nets, tmp_path, significances, message):
    with pytest.raises(TypeError, match=message):
        write_report(tmp_path, two_nets[0], significances)


# -- strict JSON ------------------------------------------------------------------------


def _strict_load(text):
    def refuse(name):
        raise AssertionError(f"bare {name} in JSON")

    return json.loads(text, parse_constant=refuse)


def test_json_text_writes_non_finite_numbers_as_null_with_a_note():
    data = {
        "a": [1.0, float("nan"), np.float64("inf")],
        "inner": {"z": -np.inf, "k": np.int64(3)},
        "rows": [{"p": float("nan")}],
    }
    back = _strict_load(json_text(data))
    assert back["a"] == [1.0, None, None] and "a[1] (NaN)" in back["null_note"]
    assert "a[2] (inf)" in back["null_note"]
    assert back["inner"] == {"z": None, "k": 3, "null_note": back["inner"]["null_note"]}
    assert "z (-inf)" in back["inner"]["null_note"]
    assert back["rows"][0]["p"] is None and "p (NaN)" in back["rows"][0]["null_note"]
    assert "null_note" not in _strict_load(json_text({"x": 1.5}))


def test_every_json_file_goes_through_the_one_writer():
    import pathlib

    root = pathlib.Path(modcore.__file__).parent
    users = [
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if re.search(r"json\.dumps?\(", p.read_text(encoding="utf-8"))
    ]
    assert users == ["common/files.py"]


def test_cli_json_and_summary_are_strict_with_auto_k(tmp_path):
    weights, _ = planted_modular_mlp([12, 4, 12], n_modules=2, seed=0)
    net = tmp_path / "net.npz"
    np.savez(net, *weights)
    out, rep = tmp_path / "out.json", tmp_path / "rep"
    proc = _cli(
        "analyze", net, "--n-clusters", "auto", "--n-shuffles", 5, "--quiet",
        "--json", out, "--report", rep,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    for path in (out, rep / "summary.json"):
        _strict_load(path.read_text())


def test_write_json_is_atomic_and_strict(tmp_path):
    write_json(tmp_path / "x.json", {"v": float("nan")})
    assert _strict_load((tmp_path / "x.json").read_text())["v"] is None
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


# -- outputs that clash -----------------------------------------------------------------


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "modcore", *map(str, args)], capture_output=True, text=True
    )


def _env():
    """This tree's modcore, also from another working directory."""
    import os
    import pathlib

    package_root = str(pathlib.Path(modcore.__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": package_root}


@pytest.fixture
def npz(tmp_path):
    weights, _ = planted_modular_mlp([12, 12, 12], n_modules=2, seed=0)
    path = tmp_path / "net.npz"
    np.savez(path, *weights)
    (tmp_path / "r4").mkdir()
    return path


@pytest.mark.parametrize(
    "options, message",
    [
        (["--report", "r4", "--json", "r4/index.html"], "--json r4/index.html is a file --report"),
        (["--report", "r4", "--json", "r4/summary.json"], "writes \\(summary.json\\)"),
        (["--report", "r4", "--json", "r4/../r4/null_layer.png"], "writes \\(null_layer.png\\)"),
        (["--report", ".", "--json", "network.png"], "writes \\(network.png\\)"),
        (["--report", "r5", "--json", "r5"], "--report r5 is the --json file"),
        (["--report", ".", "--json", "index.html"], "writes \\(index.html\\)"),
        (["--report", ".", "--json", "net.npz"], "--json net.npz is the input net.npz: it"),
    ],
)  # fmt: skip
def test_analyze_refuses_outputs_that_clash_before_any_work(npz, options, message):
    before = sorted(p.name for p in npz.parent.rglob("*"))
    proc = subprocess.run(
        [sys.executable, "-m", "modcore", "analyze", "net.npz", "--n-clusters", "2",
         "--n-shuffles", "5", "--quiet", *options],
        capture_output=True, text=True, cwd=npz.parent, env=_env(),
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1
    assert re.search(message, proc.stderr), proc.stderr
    assert sorted(p.name for p in npz.parent.rglob("*")) == before


def test_a_file_beside_a_report_s_own_files_is_fine(npz):
    proc = _cli(
        "analyze", npz, "--n-clusters", 2, "--n-shuffles", 5, "--quiet",
        "--report", npz.parent / "r4", "--json", npz.parent / "r4" / "results.json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (npz.parent / "r4" / "results.json").is_file()


def test_the_report_folder_patterns_hold_every_file_a_report_writes(npz):
    from fnmatch import fnmatchcase

    rep = npz.parent / "r4"
    proc = _cli(
        "analyze", npz, "--n-clusters", "2:3", "--n-shuffles", 5, "--quiet",
        "--shuffle", "layer", "--shuffle", "layer_nonzero", "--report", rep,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    patterns = FOLDER_FILES[("analyze", "report")]
    written = [p.name for p in rep.iterdir()]
    assert len(written) >= 7
    assert all(any(fnmatchcase(name, p) for p in patterns) for name in written), written


# -- escaping, the Run table and the figures --------------------------------------------


def test_markdown_text_escapes_every_markup_character():
    hostile = "<img src=x onerror=alert(1)>.pt *b* _i_ [l](u) `c` # | &amp;\nline"
    text = markdown_text(hostile)
    assert "\n" not in text
    for ch in "<>*_[]()`#|&":
        assert ch not in text.replace("\\" + ch, "")


def test_run_table_names_the_nulls_that_ran(npz):
    rep = npz.parent / "r4"
    proc = _cli(
        "analyze", npz, "--n-clusters", 2, "--n-shuffles", 5, "--quiet", "--report", rep,
        "--shuffle", "layer", "--shuffle", "layer_nonzero",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    page = (rep / "index.html").read_text()
    assert "<tr><th>nulls run</th><td>layer (5 shuffles), layer_nonzero (5 shuffles)" in page
    assert "shuffle: None" not in page
    saved = json.loads((rep / "summary.json").read_text())
    assert saved["arguments"]["shuffle"] == ["layer", "layer_nonzero"]
    plain = _cli(
        "analyze", npz, "--n-clusters", 2, "--n-shuffles", 5, "--quiet", "--report", rep,
    )  # fmt: skip
    assert plain.returncode == 0, plain.stderr
    page = (rep / "index.html").read_text()
    assert "shuffle: None" not in page and "shuffle: [&#x27;layer&#x27;]" in page


def test_null_histograms_share_a_range_and_keep_the_legend_off_the_axes(two_nets):
    a, _ = two_nets
    far = _sig(a, shuffle="layer")
    near = _sig(a, shuffle="layer_nonzero")
    xlim = plot.shared_ncut_range([far, near])
    figures = [plot.null_histogram(s, xlim=xlim) for s in (far, near)]
    for fig in figures:
        fig.canvas.draw()
        (ax,) = fig.axes
        assert ax.get_xlim() == pytest.approx(xlim)
        (legend,) = fig.legends
        box = legend.get_window_extent()
        axes_box = ax.get_window_extent()
        assert box.y1 <= axes_box.y0 or box.x0 >= axes_box.x1  # outside the plot area
    values = np.concatenate([far.shuffled_ncuts, near.shuffled_ncuts, [far.ncut]])
    assert xlim[0] < values.min() and xlim[1] > values.max()


def test_a_group_name_with_math_markup_is_drawn_as_typed(tmp_path):
    net = modcore.Network(
        [("$x^$", 6), ("a$b$c", 6), ("out", 6)],
        [(0, 1, np.kron(np.eye(2), np.ones((3, 3)))), (1, 2, np.kron(np.eye(2), np.ones((3, 3))))],
    )
    sig = _sig(net)
    index = write_report(tmp_path, net, {"layer": sig})
    assert (tmp_path / "network.png").stat().st_size > 0 and index.is_file()
    texts = [t.get_text() for t in plot.network_modules(net, sig.labels).axes[0].get_xticklabels()]
    assert texts[0].startswith(r"\$x^\$")


@needs_chromium
def test_report_in_chromium_shows_hostile_names_as_text_and_both_histograms(tmp_path):
    block = np.kron(np.eye(2), np.ones((3, 3)))
    hostile = "<img src=x onerror=alert(1)>"
    net = modcore.Network(
        [(hostile, 6), ("$a$ & b", 6), ("out", 6)], [(0, 1, block), (1, 2, block)]
    )
    sigs = {name: _sig(net, shuffle=name) for name in ("layer", "layer_nonzero")}
    index = write_report(tmp_path, net, sigs, {"note": f"trained on {hostile}"})
    dom, console = load_in_chromium(index)
    assert not console, console  # every figure loaded, no script ran
    assert 'src="x"' not in dom and "&lt;img src=x onerror=alert(1)&gt;" in dom
    layout = layout_in_chromium(index, tmp_path / "page.png", width=1000)
    hist = [i for i in layout["images"] if i["src"].startswith("null_")]
    assert len(hist) == 2 and hist[0]["natural"] == hist[1]["natural"]
    assert layout["scroll_width"] <= layout["client_width"]


def test_a_null_of_one_value_is_a_thin_bar_on_that_value():
    block = np.kron(np.eye(2), np.ones((3, 3)))
    net = modcore.Network([("a", 6), ("b", 6), ("c", 6)], [(0, 1, block), (1, 2, block)])
    sig = _sig(net, shuffle="layer_nonzero")  # every shuffle keeps the two blocks apart
    assert np.ptp(sig.shuffled_ncuts) == 0
    (ax,) = plot.null_histogram(sig).axes
    (bar,) = [p for p in ax.patches if p.get_height() > 0]
    low, high = ax.get_xlim()
    assert bar.get_width() <= (high - low) / 50
    assert bar.get_x() <= sig.shuffled_ncuts[0] <= bar.get_x() + bar.get_width()


def test_a_file_that_cannot_be_replaced_is_named_not_its_temporary(tmp_path, monkeypatch):
    import os

    from modcore.common import files

    def refuse(src, dst):
        raise PermissionError(13, "Permission denied", str(src))

    monkeypatch.setattr(files.os, "replace", refuse)
    with pytest.raises(ValueError) as info:
        write_json(tmp_path / "weights.json", {"a": 1})
    message = str(info.value)
    assert message.startswith(f"{os.path.realpath(tmp_path / 'weights.json')}: cannot write")
    assert ".tmp" not in message and "Permission denied" in message
    assert list(tmp_path.iterdir()) == []  # the temporary file is gone
