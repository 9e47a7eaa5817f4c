"""The gallery's image scraper for modcore.report.plot's figures (named in conf.py)."""


def modcore_figures(block, block_vars, gallery_conf):
    """sphinx-gallery scraper for the figures modcore.report.plot returns.

    modcore.report.plot draws on Agg Figures without pyplot (so that it changes no global state);
    sphinx-gallery's own scraper finds only pyplot's figures. This one saves every Figure
    bound to a name in the example that it has not saved yet, in the order they appear.
    """
    from matplotlib.figure import Figure
    from sphinx_gallery.scrapers import figure_rst

    paths = []
    for value in list(block_vars["example_globals"].values()):
        if isinstance(value, Figure) and not getattr(value, "_gallery_saved", False):
            path = next(block_vars["image_path_iterator"])
            value.savefig(path, dpi=90)
            value._gallery_saved = True
            paths.append(path)
    return figure_rst(paths, gallery_conf["src_dir"])
