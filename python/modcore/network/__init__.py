"""Every way into a network: the :class:`~modcore.network.network.Network` type, the
checks of array inputs, weight files and state dicts, scipy.sparse adjacencies, synthetic
nets, and the torch reader (:mod:`modcore.network.torch`); :mod:`modcore.network.convert`
dispatches any accepted input to its reader."""

import typing as _typing

if not _typing.TYPE_CHECKING:  # its modules as attributes, imported on first use
    from ..common.lazy import submodule_getattr

    __getattr__ = submodule_getattr(__name__)
