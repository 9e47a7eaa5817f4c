"""Many networks at once: sweeps over weight files and the papers' reproductions (MLP, CNN,
lesions), with their run logs and records."""

import typing as _typing

if not _typing.TYPE_CHECKING:  # its modules as attributes, imported on first use
    from ..common.lazy import submodule_getattr

    __getattr__ = submodule_getattr(__name__)
