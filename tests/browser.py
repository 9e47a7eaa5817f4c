"""A page opened in headless Chromium (Debian's ``chromium``), with its images checked."""

import shutil
import subprocess

import pytest

# Reports on each image once the page has loaded: a console error per image that did not
# load, and the number that did in <body data-loaded>.
PROBE = """<script>window.addEventListener("load", () => {
  for (const img of document.images) if (!img.naturalWidth) console.error("not loaded: " + img.src);
  document.body.dataset.loaded = [...document.images].filter(img => img.naturalWidth).length;
});</script></body>"""

needs_chromium = pytest.mark.skipif(
    shutil.which("chromium") is None,
    reason="needs Debian's chromium (apt-get install chromium) for the browser check",
)


def load_in_chromium(page, extra_args=()):
    """Open ``page`` (an HTML file) in headless Chromium with the image probe.

    The probe goes into a copy beside the page, so relative links resolve as they do for
    the page itself. ``extra_args`` go to Chromium. Returns the DOM after load and the
    console lines Chromium logged.
    """
    probe = page.with_name("_probe_" + page.name)
    probe.write_text(
        page.read_text(encoding="utf-8").replace("</body>", PROBE, 1), encoding="utf-8"
    )
    try:
        proc = subprocess.run(
            [
                "chromium",
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--enable-logging=stderr",
                "--v=0",
                "--dump-dom",
                *extra_args,
                probe.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        probe.unlink()
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    return proc.stdout, console
