"""What a person reads: figures, the HTML report, verdicts in words and the notebook display
of the result types (which reach this layer only through :mod:`modcore.common.display`)."""

import typing as _typing

if not _typing.TYPE_CHECKING:  # its modules as attributes, imported on first use
    from ..common.lazy import submodule_getattr

    __getattr__ = submodule_getattr(__name__)
