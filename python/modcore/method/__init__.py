"""The method on a network: spectral clustering, the n-cut and modularity scores, the
shuffle-null significance (here or on a dask cluster), choosing k, stability across seeds,
partition comparison and multiple testing."""

import typing as _typing

if not _typing.TYPE_CHECKING:  # its modules as attributes, imported on first use
    from ..common.lazy import submodule_getattr

    __getattr__ = submodule_getattr(__name__)
