"""modcore: how modular is a trained neural network?

Spectral clustering of a network's units (MLP neurons, conv channels), the normalized cut of the
modules, and its significance against layer-wise shuffled networks (Filan et al., 2020/2021).
"""

from .analysis import Eigengap, EigengapWarning, NcutCurve, eigengap, ncut_curve
from .cluster import Clustering, FloatingUnitsWarning, spectral_cluster
from .functional import (
    FunctionalModules,
    ModuleComparison,
    coactivation_graph,
    compare_modules,
    functional_modules,
)
from .graph import modularity, ncut
from .multiple_testing import benjamini_hochberg
from .network import Network
from .significance import (
    SHUFFLES,
    Significance,
    ncut_significance,
    shuffled_network,
    shuffled_weights,
)
from .stability import Agreement, Stability, compare_partitions, stability
from .sweep import sweep
from .weights import weights_from_module

__version__ = "0.1.0"
__all__ = [
    "Agreement",
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
    "shuffled_weights",
    "spectral_cluster",
    "stability",
    "sweep",
    "weights_from_module",
    "__version__",
]
