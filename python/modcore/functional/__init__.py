"""Functional modules: units that fire together, from recorded activations, and their
comparison with the weight-graph modules."""

import typing as _typing

if not _typing.TYPE_CHECKING:  # its modules as attributes, imported on first use
    from ..common.lazy import submodule_getattr

    __getattr__ = submodule_getattr(__name__)
