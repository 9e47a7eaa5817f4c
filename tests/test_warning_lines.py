"""A warning names the line of the user's call, not a line inside modcore: under the
decorators (takes_view, takes_settings, renamed_keywords), under other wrappers, and
from inside torch's autograd."""

import warnings

import numpy as np
import pytest

import modcore
from modcore import FloatingUnitsWarning, ncut_significance, spectral_cluster


def _caught(call, category):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    found = [w for w in caught if issubclass(w.category, category)]
    assert found, [str(w.message) for w in caught]
    return found


def _names_this_file(found):
    for w in found:
        assert w.filename == __file__, (w.filename, w.lineno, str(w.message))


def _floating():
    # in (2) -> h1 (3) -> h2 (3) -> out (2): h1[2] - h2[2] reach neither end.
    w1 = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    w3 = np.array([[1.0, 0.5], [0.5, 1.0], [0.0, 0.0]])
    return [w1, np.eye(3), w3]


def test_under_takes_view_and_takes_settings():
    net = _floating()
    _names_this_file(
        _caught(lambda: spectral_cluster(net, n_clusters=2), FloatingUnitsWarning)
        + _caught(
            lambda: ncut_significance(net, n_clusters=2, n_shuffles=3, seed=0, progress=False),
            FloatingUnitsWarning,
        )
    )


def test_deprecated_functions():
    _names_this_file(
        _caught(lambda: modcore.shuffled_weights(_floating(), seed=0), DeprecationWarning)
    )


torch = pytest.importorskip("torch")


@pytest.fixture
def tiny():
    from modcore.nn import Dataset

    rng = np.random.default_rng(0)
    x, y = torch.from_numpy(rng.random((8, 6), dtype=np.float32)), torch.arange(8) % 4
    return Dataset(x, y, x, y, n_classes=4, name="by hand", source="test")


@pytest.mark.usefixtures("torch_one_thread")
def test_renamed_keywords_and_other_wrappers(tiny):
    from modcore.nn import MLP, evaluate, linear_layers, train

    model = MLP([6, 5, 4], seed=0)
    found = _caught(
        lambda: train(model, dataset=tiny, epochs=1, progress=False), DeprecationWarning
    )
    found += _caught(lambda: evaluate(model, tiny.x_test, tiny.y_test), DeprecationWarning)
    found += _caught(lambda: linear_layers(model), DeprecationWarning)
    _names_this_file(found)


@pytest.mark.usefixtures("torch_one_thread")
def test_from_inside_autograd():
    # Equal weights: the normalized Laplacian of a complete bipartite graph has the
    # eigenvalue 1 repeated, past the one regularized.
    from modcore.nn import MLP
    from modcore.nn.regularizers import DegenerateEigenvalueWarning, SpectralRegularizer

    model = MLP([3, 4], seed=0)
    with torch.no_grad():
        model[0].weight.fill_(1.0)
    regularizer = SpectralRegularizer(model, n_eigenvalues=1)
    _names_this_file(_caught(lambda: regularizer(), DegenerateEigenvalueWarning))
