"""A page opened in headless Chromium (Debian's ``chromium``), with its images checked."""

import re
import shutil
import subprocess

import pytest

# Reports on each image once the page has loaded: a console error per image that did not
# load, and the number that did in <body data-loaded>. For layout checks, each image's
# natural size and its box on the page (x, y from the page's top, width, height) in
# <img data-box>, and the page's scroll width, client width and height in <body data-page>.
PROBE = """<script>window.addEventListener("load", () => {
  for (const img of document.images) if (!img.naturalWidth) console.error("not loaded: " + img.src);
  document.body.dataset.loaded = [...document.images].filter(img => img.naturalWidth).length;
  for (const img of document.images) {
    const box = img.getBoundingClientRect();
    img.dataset.box = [img.naturalWidth, img.naturalHeight, box.left, box.top + window.scrollY,
                       box.width, box.height].join(",");
  }
  const root = document.documentElement;
  document.body.dataset.page = [root.scrollWidth, root.clientWidth, root.scrollHeight].join(",");
});</script></body>"""

needs_chromium = pytest.mark.skipif(
    shutil.which("chromium") is None,
    reason="needs Debian's chromium (apt-get install chromium) for the browser check",
)


def _run_chromium(probe, *options):
    proc = subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
            *options,
            probe.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def _with_probe(page):
    """A copy of ``page`` beside it with the probe, so relative links resolve as they do
    for the page itself."""
    probe = page.with_name("_probe_" + page.name)
    probe.write_text(
        page.read_text(encoding="utf-8").replace("</body>", PROBE, 1), encoding="utf-8"
    )
    return probe


def load_in_chromium(page, extra_args=()):
    """Open ``page`` (an HTML file) in headless Chromium with the image probe.

    ``extra_args`` go to Chromium. Returns the DOM after load and the console lines
    Chromium logged.
    """
    probe = _with_probe(page)
    try:
        proc = _run_chromium(probe, "--dump-dom", *extra_args)
    finally:
        probe.unlink()
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    return proc.stdout, console


def layout_in_chromium(page, screenshot, *, width):
    """Open ``page`` in a ``width`` pixels wide headless Chromium (scale 1, no scroll bars)
    and save a screenshot of the whole page to ``screenshot`` (a .png path).

    Returns a dict: ``scroll_width``, ``client_width`` and ``height`` of the page, and
    ``images``: per <img>, its ``src`` and ``natural`` (width, height) and ``box`` (x, y,
    width, height) in page pixels.
    """
    window = ("--force-device-scale-factor=1", "--hide-scrollbars")
    probe = _with_probe(page)
    try:
        dom = _run_chromium(probe, *window, f"--window-size={width},900", "--dump-dom").stdout
        scroll_width, client_width, height = map(
            int, re.search(r'data-page="([^"]+)"', dom).group(1).split(",")
        )
        # A window as tall as the page: the screenshot holds all of it at the same layout.
        _run_chromium(
            probe, *window, f"--window-size={width},{height}", f"--screenshot={screenshot}"
        )
    finally:
        probe.unlink()
    images = []
    for tag in re.findall(r"<img\b[^>]*>", dom):
        values = [float(v) for v in re.search(r'data-box="([^"]+)"', tag).group(1).split(",")]
        src = re.search(r'\bsrc="([^"]+)"', tag).group(1)
        images.append({"src": src, "natural": tuple(values[:2]), "box": tuple(values[2:])})
    return {
        "scroll_width": scroll_width,
        "client_width": client_width,
        "height": height,
        "images": images,
    }
