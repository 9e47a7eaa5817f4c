"""What every HTML report shares: the page around a body, the versions that made it, and the
atomic write of the page, its figures and its JSON."""

from __future__ import annotations

import html
import platform
import sys
from pathlib import Path

from ..common.files import atomic_write, write_json
from ..common.version import __version__


def versions() -> dict:
    """modcore's, Python's and the platform's versions, and those of numpy, torch
    and matplotlib when they are loaded."""
    found = {
        "modcore": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    found.update(
        {
            name: sys.modules[name].__version__
            for name in ("numpy", "torch", "matplotlib")
            if name in sys.modules
        }
    )
    return found


def write_files(out_dir, results: dict, figures: list, page_html: str) -> Path:
    """``summary.json``, the ``(file name, Figure)`` PNGs and ``index.html`` in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # Each file whole or not at all; index.html last, so it never links a missing figure.
    write_json(out / "summary.json", results)
    for name, fig in figures:
        with atomic_write(out / name, "wb") as f:
            fig.savefig(f, format="png", dpi=100)
    index = out / "index.html"
    with atomic_write(index) as f:
        f.write(page_html)
    return index


def page(title: str, body: str) -> str:
    """A whole static HTML page around ``body`` (HTML), with the reports' style."""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; max-width: 70em; margin: 2em auto; padding: 0 1em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
td, th {{ border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }}
#results td, .curve td, #comparison td {{ text-align: right; font-variant-numeric: tabular-nums; }}
#results td:first-child, #comparison td:first-child, #comparison td:last-child {{
  text-align: left; }}
#run td {{ overflow-wrap: anywhere; }}
img {{ max-width: 100%; }}
figure {{ margin: 2em 0; }}
#note {{ background: #fff4d6; padding: 0.6em 1em; }}
#verdicts li {{ margin: 0.5em 0; }}
</style></head><body>
{body}
</body></html>
"""
