"""Sibling functions and options agree (issue 28 item 4): the same options under the
same names, in the API and in the CLI, old spellings kept with a deprecation."""


import numpy as np
import pytest

import modcore
import modcore.method.eigengap as eigengap_module
from modcore.network.synthetic import planted_modular_mlp


@pytest.fixture(scope="module")
def planted():
    w, _ = planted_modular_mlp([30, 30, 30], n_modules=4, noise=0.2, seed=0)
    return w


def test_eigengap_takes_n_jobs_and_its_result_does_not_depend_on_it(planted, monkeypatch):
    seen = []
    real = eigengap_module.core_spectral_embedding

    # Every graph counts as large, so the threads split each product (as from 2**22 edges).
    def threaded(*args, **kw):
        seen.append(kw["n_jobs"])
        return real(*args, **kw, large_graph=1)

    monkeypatch.setattr(eigengap_module, "core_spectral_embedding", threaded)
    run = dict(max_k=8, n_shuffles=3, eigen_method="full", seed=0)
    one = modcore.eigengap(planted, n_jobs=1, **run)
    two = modcore.eigengap(planted, n_jobs=2, **run)
    assert seen == [1] * 4 + [2] * 4  # the network and each shuffle
    assert one.k == two.k == 4
    np.testing.assert_allclose(two.eigenvalues, one.eigenvalues, rtol=0, atol=1e-9)
    np.testing.assert_allclose(two.shuffled_gaps, one.shuffled_gaps, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="n_jobs"):
        modcore.eigengap(planted, n_jobs=0)
