"""Types of the arguments modcore's public functions share, for their annotations.

Each stands for what the numpydoc ``Parameters`` sections describe in words; the
checks themselves are in :mod:`modcore.network.checks` and
:func:`modcore.network.convert.as_network`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Union

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:  # torch and dask are optional
    import torch
    from distributed import Client

    from ..network.network import Network

#: ``seed=``: None (fresh entropy), an int in [0, 2**64) or a numpy Generator.
SeedLike = Union[int, np.integer, np.random.Generator, None]

#: ``progress=``: None (shown on a terminal), True / False, or ``f(done, total)``.
ProgressLike = Union[bool, Callable[[int, int], Any], None]

#: A file path, as str or path object.
PathLike = Union[str, "os.PathLike[str]"]

#: A network as the public functions take it: a Network, a chain of weight
#: matrices, a scipy.sparse adjacency (untyped: scipy has no annotations), a
#: torch module, a state dict, or a weight file path.
NetworkLike = Union[
    "Network", Sequence[npt.ArrayLike], "torch.nn.Module", Mapping[str, Any], PathLike
]

#: Per-group unit labels: one integer array per group (or one array for a
#: single-group network).
LabelsLike = Union[Sequence[npt.ArrayLike], npt.ArrayLike]

#: ``input_shape=``: one example's shape without the batch dimension.
InputShape = Union[Sequence[int], None]

#: ``client=``: a dask.distributed Client, or None to run here.
ClientLike = Union["Client", None]

__all__ = [
    "ClientLike",
    "InputShape",
    "LabelsLike",
    "NetworkLike",
    "PathLike",
    "ProgressLike",
    "SeedLike",
]
