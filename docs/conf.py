"""Sphinx configuration of the modcore docs: numpydoc docstrings, the PyData theme, a
gallery executed at build time (sphinx-gallery) and the CLI reference from argparse.

Build: python -m sphinx -W --keep-going -b html docs/ docs/_build/html
"""

import os
import shutil
import sys

import modcore

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gallery_scraper import modcore_figures

# The gallery runs its examples while the docs build: no window.
os.environ.setdefault("MPLBACKEND", "Agg")

project = "modcore"
author = "the modcore authors"
copyright = "modcore authors, MIT licence"
release = version = modcore.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "sphinxarg.ext",
]

# sphinx-gallery's configuration holds a function (the scraper above), which Sphinx cannot
# pickle into its environment cache; the only effect is a full rebuild when conf.py changes.
# (Naming the scraper by a dotted string avoids this only in newer sphinx-gallery releases.)
suppress_warnings = ["config.cache"]

exclude_patterns = ["_build", "examples"]  # examples/: sphinx-gallery's sources
templates_path = []

# API reference: one page per public name, generated from the docstrings.
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"  # numpydoc's Parameters section already gives the types
numpydoc_show_class_members = False  # autosummary lists the members; avoids duplicate stubs
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "reset_modules": ("matplotlib",),
    "within_subsection_order": "FileNameSortKey",
    # modcore.report.plot returns Figures without pyplot; pyplot's own are scraped too.
    "image_scrapers": ("matplotlib", modcore_figures),
}


def _markdown_table_to_rst(markdown_path, rst_path):
    """Write the pipe tables written by ``modcore reproduce`` (``results/table.md``,
    ``results/lesions/table.md``) as RST list-tables, so the results page shows the
    committed numbers, never a copy: one per table, titled by the ``#### `` heading above
    it (one per label rule); other lines (a partial table's note) as paragraphs."""
    lines, title, rows = [], "", []

    def table():
        header, body = rows[0], rows[2:]  # rows[1] is the |---| line
        if not body:  # a record with no finished run yet: RST has no header-only table
            return [f"{title}: no runs yet." if title else "No runs yet.", ""]
        out = [f".. list-table:: {title}".rstrip(), "   :header-rows: 1", ""]
        for row in [header] + body:
            out += [f"   * - {row[0]}"] + [f"     - {cell}" for cell in row[1:]]
        return out + [""]

    for line in open(markdown_path, encoding="utf-8"):
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
            continue
        if rows:
            lines += table()
            rows = []
        if line.startswith("#### "):
            title = line[5:].strip()
        elif line.strip():
            lines += [line.strip(), ""]
    if rows:
        lines += table()
    os.makedirs(os.path.dirname(rst_path), exist_ok=True)
    with open(rst_path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


_here = os.path.dirname(os.path.abspath(__file__))
for _table, _include in (
    ("table.md", "results_table"),
    ("lesions/table.md", "lesions_table"),
    ("cnn/table.md", "cnn_table"),
):
    _markdown_table_to_rst(
        os.path.join(_here, "..", "results", _table),
        os.path.join(_here, "generated", f"{_include}.rst.inc"),
    )

html_theme = "pydata_sphinx_theme"
html_title = f"modcore {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_prev_next": True,
    "secondary_sidebar_items": ["page-toc"],
}
html_static_path = []
html_show_sourcelink = False

# Maths render offline: MathJax 2 from Debian's libjs-mathjax (apt-get install libjs-mathjax),
# the files its TeX -> CommonHTML configuration loads copied into the site's _static/mathjax.
# Without that package the pages load MathJax from Sphinx's default CDN instead.
_MATHJAX = "/usr/share/javascript/mathjax"
_MATHJAX_FILES = [
    "MathJax.js",
    "config/TeX-AMS_CHTML.js",
    "extensions",
    "jax/element",
    "jax/input/TeX",
    "jax/output/CommonHTML",
    "fonts/HTML-CSS/TeX/woff",
]
if os.path.isfile(os.path.join(_MATHJAX, "MathJax.js")):
    mathjax_path = "mathjax/MathJax.js?config=TeX-AMS_CHTML"


def _copy_mathjax(app, exception):
    if exception is not None or app.builder.format != "html" or "mathjax_path" not in globals():
        return
    for part in _MATHJAX_FILES:
        source = os.path.join(_MATHJAX, part)
        target = os.path.join(app.outdir, "_static", "mathjax", part)
        if os.path.isdir(source):
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy2(source, target)


def setup(app):
    app.connect("build-finished", _copy_mathjax)
