# Types of the compiled module (cpp/src/bindings.cpp), for type checkers: the C++ core has no
# Python source to read them from. tests/test_core_stub.py checks these names and parameters
# against the built module. Use the modcore package, which validates inputs, not _core.
from typing import Any

import numpy as np
import numpy.typing as npt

# One edge block: (src, dst, rows, cols, triangle, dense, positions, values), with dense a
# C-contiguous float32/float64 (rows, cols) array, or None and then int64 flat positions and
# float64 values (Network.to_core builds them).
CoreBlock = tuple[
    int,
    int,
    int,
    int,
    bool,
    npt.NDArray[Any] | None,
    npt.NDArray[np.int64] | None,
    npt.NDArray[np.float64] | None,
]
# The limits of cpp/include/modcore/limits.hpp, read by modcore.method.settings.
MAX_CLUSTERS: int
MAX_INIT: int
MAX_ITER: int
DENSE_MAX_UNITS: int
MAX_LANCZOS_VECTORS: int

_Sizes = npt.ArrayLike
_Labels = npt.ArrayLike

# drop ("isolated" | "unreachable") and normalize ("none" | "rescale") say how the network
# (and each shuffled network) becomes the graph; they come last, with defaults. After them,
# large_graph (for tests): the edge count from which a graph is large (kLargeGraphEdges).
def graph(
    sizes: _Sizes, blocks: list[CoreBlock], drop: str = "isolated", normalize: str = "none"
) -> dict[str, Any]: ...
def cluster(
    sizes: _Sizes,
    blocks: list[CoreBlock],
    n_clusters: int,
    n_init: int,
    max_iter: int,
    tol: float,
    method: str,
    select_by: str,
    refine: bool,
    assign_labels: str,
    seed: int,
    n_jobs: int,
    drop: str = "isolated",
    normalize: str = "none",
    large_graph: int = ...,
) -> dict[str, Any]: ...
def ncut(
    sizes: _Sizes,
    blocks: list[CoreBlock],
    labels: _Labels,
    drop: str = "isolated",
    normalize: str = "none",
) -> float: ...
def spectral_embedding(
    sizes: _Sizes,
    blocks: list[CoreBlock],
    n_clusters: int,
    tol: float,
    method: str,
    drop: str = "isolated",
    normalize: str = "none",
    n_jobs: int = 1,
    large_graph: int = ...,
) -> dict[str, Any]: ...
def nontrivial_eigenpairs(
    sizes: _Sizes,
    blocks: list[CoreBlock],
    n_eigenvalues: int,
    tol: float,
    method: str,
    warm: Any = None,
    drop: str = "isolated",
    normalize: str = "none",
    n_jobs: int = 1,
) -> dict[str, Any]: ...
def cluster_curve(
    sizes: _Sizes,
    blocks: list[CoreBlock],
    ks: list[int],
    n_init: int,
    max_iter: int,
    tol: float,
    method: str,
    select_by: str,
    refine: bool,
    assign_labels: str,
    seed: int,
    n_jobs: int,
    drop: str = "isolated",
    normalize: str = "none",
    large_graph: int = ...,
) -> dict[str, Any]: ...
def modularity(
    sizes: _Sizes,
    blocks: list[CoreBlock],
    labels: _Labels,
    drop: str = "isolated",
    normalize: str = "none",
) -> float: ...
def shuffled_scores(
    sizes: _Sizes,
    blocks: list[CoreBlock],
    shuffle: str,
    first: int,
    count: int,
    ks: list[int],
    n_init: int,
    max_iter: int,
    tol: float,
    method: str,
    select_by: str,
    refine: bool,
    assign_labels: str,
    seed: int,
    n_jobs: int,
    drop: str = "isolated",
    normalize: str = "none",
    large_graph: int = ...,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.int64]]: ...
def shuffled_network(
    sizes: _Sizes, blocks: list[CoreBlock], shuffle: str, seed: int, index: int
) -> list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]]: ...
def kmeans(
    X: npt.ArrayLike, n_clusters: int, n_init: int, max_iter: int, seed: int, n_jobs: int
) -> dict[str, Any]: ...
