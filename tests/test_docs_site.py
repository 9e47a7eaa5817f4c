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
        "modcore.nn.lesion",
        "modcore.plot",
        "modcore.report",
        "modcore.verdict",
        "modcore.sweep",
        "modcore.functional",
        "modcore.analysis",
    ],
)
def test_api_reference_lists_every_public_name(module):
    """docs/api.rst names each entry of the module's __all__, here or where it is re-exported
    (modcore.analysis's names are documented as modcore.eigengap, ...)."""
    if module.startswith("modcore.nn"):
        pytest.importorskip("torch")
    importlib.import_module(module)
    mod = sys.modules[module]  # modcore.sweep the module, not the function modcore exports
    api = (Path(__file__).resolve().parent.parent / "docs" / "api.rst").read_text(encoding="utf-8")
    documented = {full.rsplit(".", 1)[1] for full in _documented_names(api)}
    skip = {"__version__", "checkpoint"}  # a version string; a module (its save/load are listed)
    assert [name for name in mod.__all__ if name not in documented and name not in skip] == []
