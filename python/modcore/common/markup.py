"""User strings (file names, group and module names, notes) made safe to put into
Markdown: shown as typed, never read as markup or HTML by a Markdown viewer."""

from __future__ import annotations

import re

__all__ = ["markdown_text"]

# CommonMark lets a backslash escape any ASCII punctuation; these are the ones that start
# markup (emphasis, links, images, code, tables, headings, lists, HTML, entities).
_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#+\-.!|~&<>\"'])")


def markdown_text(text: object) -> str:
    """``text`` as literal Markdown inline text: punctuation backslash-escaped and line
    breaks as spaces, so ``<img src=x onerror=...>`` shows as those characters.

    Examples
    --------
    >>> markdown_text("<img src=x onerror=alert(1)>.pt")
    '\\\\<img src=x onerror=alert\\\\(1\\\\)\\\\>\\\\.pt'
    """
    one_line = " ".join(str(text).splitlines())
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", one_line)
