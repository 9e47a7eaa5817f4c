"""The built docs site (docs/_build/html, from `python -m sphinx -b html docs/ docs/_build/html`)
opens in headless Chromium with its figures: the index and a gallery page."""

import importlib
import re
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest

from browser import load_in_chromium, needs_chromium

SITE = Path(__file__).resolve().parent.parent / "docs" / "_build" / "html"
needs_site = pytest.mark.skipif(
    not (SITE / "index.html").is_file(),
    reason=f"no built docs site at {SITE} (build it as in README)",
)

# (page, how many figures it shows): the index's weights figure; the gallery example's two
# figures, which sphinx-gallery wrote while running it.
PAGES = [("index.html", 1), ("auto_examples/plot_planted_modules.html", 2)]


def _image_sources(html: str) -> list:
    return re.findall(r'<img\b[^>]*?\bsrc="([^"]+)"', html)


@needs_site
@pytest.mark.parametrize("page, n_figures", PAGES)
def test_page_images_resolve_to_png_files(page, n_figures):
    path = SITE / page
    sources = [
        s for s in _image_sources(path.read_text(encoding="utf-8")) if not s.startswith("data:")
    ]
    assert len(sources) >= n_figures, sources
    for src in sources:
        target = (path.parent / unquote(src)).resolve()
        assert target.is_file(), f"{page}: <img src={src!r}> -> {target} is missing"
        assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{target} is not a PNG"


@needs_site
@needs_chromium
@pytest.mark.parametrize("page, n_figures", PAGES)
def test_page_renders_in_headless_chromium_with_its_figures(page, n_figures):
    path = SITE / page
    dom, console = load_in_chromium(path)
    assert [line for line in console if "not loaded:" in line] == []
    loaded = re.search(r'data-loaded="(\d+)"', dom)
    assert loaded, "the page's load event never ran"
    assert int(loaded.group(1)) == len(_image_sources(path.read_text(encoding="utf-8")))
    assert int(loaded.group(1)) >= n_figures
    # The page's own text rendered, not an error page.
    title = {
        "index.html": "modcore",
        "auto_examples/plot_planted_modules.html": "Planted modules are recovered",
    }[page]
    assert f"<h1>{title}" in dom


# No network: every host name fails to resolve, so a page that needs a CDN shows raw TeX.
OFFLINE = ("--host-resolver-rules=MAP * ~NOTFOUND",)


@needs_site
@needs_chromium
def test_maths_render_offline_from_the_sites_own_mathjax():
    """The method page's maths is typeset by the MathJax copied into the site (from Debian's
    libjs-mathjax), with no network: every formula becomes MathJax output and no TeX source
    is left as visible text."""
    path = SITE / "method.html"
    html = path.read_text(encoding="utf-8")
    [src] = re.findall(r'<script\b[^>]*\bsrc="([^"]*MathJax[^"]*)"', html, flags=re.I)
    assert not re.match(r"(https?:)?//", src), f"MathJax is loaded from {src}, not the site"
    assert (path.parent / unquote(src.split("?")[0])).is_file()
    n_formulas = html.count('class="math notranslate nohighlight"')
    assert n_formulas >= 10
    # MathJax typesets after the load event: give it (virtual) time before the DOM dump.
    dom, console = load_in_chromium(path, (*OFFLINE, "--virtual-time-budget=30000"))
    assert "Math Processing Error" not in dom
    assert not [line for line in console if "failed to load" in line.lower()]
    assert len(re.findall(r'class="mjx-chtml\b', dom)) >= n_formulas
    visible = re.sub(r"<script\b.*?</script>", "", dom, flags=re.S)
    for tex in (r"\frac", r"\sum", r"\(", r"\["):
        assert tex not in visible, f"raw TeX {tex!r} is visible on the page"


def _documented_names(api_rst: str) -> set:
    """Full names listed by the autosummary directives of docs/api.rst."""
    names, module = set(), None
    for line in api_rst.splitlines():
        if line.startswith(".. currentmodule::"):
            module = line.split("::")[1].strip()
        elif line.startswith("   ") and not line.strip().startswith(":") and module:
            names.add(f"{module}.{line.strip()}")
    return names


@pytest.mark.parametrize(
    "module",
    [
        "modcore",
        "modcore.nn",
        "modcore.nn.regularizers",
        "modcore.nn.lesion",
        "modcore.report.plot",
        "modcore.report.html",
        "modcore.report.verdict",
        "modcore.experiments.sweep",
        "modcore.functional.coactivation",
        "modcore.functional.modules",
        "modcore.functional.comparison",
        "modcore.method.partition",
        "modcore.method.eigengap",
        "modcore.method.curve",
        "modcore.method.multiple_testing",
        "modcore.report.functional",
    ],
)
def test_api_reference_lists_every_public_name(module):
    """docs/api.rst names each entry of the module's __all__, here or where it is re-exported
    (modcore.method.eigengap's names are documented as modcore.eigengap, ...)."""
    if module.startswith("modcore.nn"):
        pytest.importorskip("torch")
    importlib.import_module(module)
    mod = sys.modules[module]  # modcore.sweep the module, not the function modcore exports
    api = (Path(__file__).resolve().parent.parent / "docs" / "api.rst").read_text(encoding="utf-8")
    documented = {full.rsplit(".", 1)[1] for full in _documented_names(api)}
    skip = {"__version__", "checkpoint"}  # a version string; a module (its save/load are listed)
    assert [name for name in mod.__all__ if name not in documented and name not in skip] == []
