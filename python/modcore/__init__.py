"""modcore: how modular is a trained neural network?

Spectral clustering of a network's units (MLP neurons, conv channels), the normalized cut of the
modules, and its significance against layer-wise shuffled networks (Filan et al., 2020/2021).
"""

from .common.version import __version__
from .experiments.sweep import sweep
from .functional.coactivation import coactivation_graph
from .functional.comparison import ModuleComparison, compare_modules
from .functional.modules import FunctionalModules, functional_modules
from .method.cluster import Clustering, FloatingUnitsWarning, spectral_cluster
from .method.curve import NcutCurve, ncut_curve
from .method.eigengap import Eigengap, EigengapWarning, eigengap
from .method.multiple_testing import benjamini_hochberg
from .method.null import (
    SHUFFLES,
    shuffled_network,
    shuffled_weights,  # noqa: F401  (deprecated, not in __all__)
)
from .method.score import modularity, ncut
from .method.settings import ClusterSettings
from .method.significance import Significance, ncut_significance
from .method.stability import Agreement, Stability, compare_partitions, stability
from .network.network import Network
from .network.weights import weights_from_module
from .report import notebook as _notebook  # noqa: F401  (registers the results' HTML display)

__all__ = [
    "Agreement",
    "ClusterSettings",
    "Clustering",
    "Eigengap",
    "EigengapWarning",
    "FloatingUnitsWarning",
    "FunctionalModules",
    "ModuleComparison",
    "NcutCurve",
    "Network",
    "SHUFFLES",
    "Significance",
    "Stability",
    "benjamini_hochberg",
    "coactivation_graph",
    "compare_modules",
    "compare_partitions",
    "eigengap",
    "functional_modules",
    "modularity",
    "ncut",
    "ncut_curve",
    "ncut_significance",
    "shuffled_network",
    "spectral_cluster",
    "stability",
    "sweep",
    "weights_from_module",
    "__version__",
]

import typing as _typing

if not _typing.TYPE_CHECKING:  # its modules as attributes, imported on first use
    from .common.lazy import submodule_getattr

    __getattr__ = submodule_getattr(__name__)
