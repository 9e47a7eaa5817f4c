"""Sphinx configuration of the modcore docs: numpydoc docstrings, the PyData theme, a
gallery executed at build time (sphinx-gallery) and the CLI reference from argparse.

Build: python -m sphinx -W --keep-going -b html docs/ docs/_build/html
"""

import os
import sys

import modcore

# gallery_scraper.py, beside this file, is named by its dotted path (a string keeps the
# configuration picklable, so Sphinx can cache it).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# The gallery runs its examples while the docs build: no window, and one thread each for
# torch and the BLAS so that a 2-core CI machine shared with other jobs is not oversubscribed.
os.environ.setdefault("MPLBACKEND", "Agg")

project = "modcore"
author = "the modcore authors"
copyright = "modcore authors, MIT licence"
release = version = modcore.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "sphinxarg.ext",
]

exclude_patterns = ["_build", "examples"]  # examples/: sphinx-gallery's sources
templates_path = []

# API reference: one page per public name, generated from the docstrings.
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"          # numpydoc's Parameters section already gives the types
numpydoc_show_class_members = False  # autosummary lists the members; avoids duplicate stubs
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# No network at build time: the docs link out to numpy/scipy by plain URLs, not intersphinx.
intersphinx_mapping = {}

sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "reset_modules": ("matplotlib",),
    "within_subsection_order": "FileNameSortKey",
    # modcore.plot returns Figures without pyplot; pyplot's own are scraped too.
    "image_scrapers": ("matplotlib", "gallery_scraper.modcore_figures"),
}

html_theme = "pydata_sphinx_theme"
html_title = f"modcore {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_prev_next": True,
    "secondary_sidebar_items": ["page-toc"],
}
html_static_path = []
html_show_sourcelink = False

