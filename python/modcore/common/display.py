"""The rich (HTML) display of result objects in Jupyter, without the result types importing
the display code above them.

A result type's ``_repr_html_`` returns :func:`html` of itself; :mod:`modcore.report.notebook`
registers the renderers, and ``import modcore`` imports it (it needs nothing optional at
import time). A type without a renderer returns None, which Jupyter takes as "use the repr".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

_RENDERERS: dict[str, Callable[[Any], str]] = {}

F = TypeVar("F", bound=Callable[[Any], str])


def renders(type_name: str) -> Callable[[F], F]:
    """Register the decorated function as the HTML of the result type ``type_name``
    (its module and qualified name, ``"modcore.method.cluster.Clustering"``)."""

    def register(fn: F) -> F:
        _RENDERERS[type_name] = fn
        return fn

    return register


def html(obj: Any) -> str | None:
    """The HTML of a result object, or None where no renderer is registered for its type."""
    render = _RENDERERS.get(f"{type(obj).__module__}.{type(obj).__qualname__}")
    return render(obj) if render is not None else None
