"""One source for the solver's limits (issue 28 item 2): cpp/include/modcore/limits.hpp
defines them, _core exposes them, modcore.method.settings reads them, and a binding's
message states the same limit as the Python check's."""

import warnings

import numpy as np
import pytest

import modcore
from errors import raised
from modcore import _core
from modcore.method import eigengap as eigengap_module
from modcore.method import settings as settings_module
from modcore.network.convert import as_network
from modcore.network.synthetic import planted_modular_mlp


def test_python_reads_its_limits_from_the_core():
    assert settings_module.MAX_CLUSTERS == _core.MAX_CLUSTERS == 2**31 - 1
    assert settings_module.MAX_INIT == _core.MAX_INIT
    assert settings_module.MAX_ITER == _core.MAX_ITER
    assert eigengap_module.MAX_EIGENGAP_K == _core.MAX_LANCZOS_VECTORS
    core = {"n_clusters": _core.MAX_CLUSTERS, "n_init": _core.MAX_INIT, "max_iter": _core.MAX_ITER}
    for name, high in core.items():
        assert modcore.ClusterSettings.bounds(name)[1] == high
    # the docs' numbers are the core's
    assert f"at most {_core.DENSE_MAX_UNITS:,}" in modcore.ClusterSettings.__doc__
    doc = " ".join(modcore.spectral_cluster.__doc__.split())
    assert f"above {_core.DENSE_MAX_UNITS:,} connected units" in doc
    assert f"more than {_core.MAX_LANCZOS_VECTORS} eigenvectors" in doc
    assert f"in [3, {_core.MAX_LANCZOS_VECTORS}]" in modcore.eigengap.__doc__


@pytest.mark.parametrize(
    "name, value",
    [
        ("n_init", 0),
        ("n_init", _core.MAX_INIT + 1),
        ("max_iter", 0),
        ("max_iter", _core.MAX_ITER + 1),
        ("n_clusters", 1),
    ],
)
def test_a_binding_states_the_same_limit_as_python(name, value):
    w, _ = planted_modular_mlp([6, 6, 6], n_modules=2, seed=0)
    sizes, blocks = as_network(w).to_core()
    settings = modcore.ClusterSettings(n_clusters=2)
    python = raised(lambda: modcore.ClusterSettings(**{name: value}))
    args = dict(zip(("n_clusters", "n_init", "max_iter"), settings.core_args()[:3]))
    args[name] = value
    rest = settings.core_args()[3:]
    binding = raised(
        lambda: _core.cluster(
            sizes, blocks, args["n_clusters"], args["n_init"], args["max_iter"], *rest, 0, 1
        )
    )
    assert binding == python
    if name != "n_clusters":
        # the curve and the null take the same checks (their ks are checked against the graph)
        curve = raised(
            lambda: _core.cluster_curve(
                sizes, blocks, [2], args["n_init"], args["max_iter"], *rest, 0, 1
            )
        )
        assert curve == python
        x = np.random.default_rng(0).random((10, 2))
        kmeans = raised(lambda: _core.kmeans(x, 2, args["n_init"], args["max_iter"], 0, 1))
        assert kmeans == python


def test_the_dense_limit_is_stated_alike():
    w = [np.ones((1001, 2))]
    with pytest.raises(ValueError, match=rf"at most {_core.DENSE_MAX_UNITS}\b"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            modcore.spectral_cluster(w, n_clusters=2, eigen_method="dense")
