import numpy as np
import pytest

import modcore
from modcore.network.synthetic import random_pruned_mlp

# n-cut against the scipy oracle on random graphs: test_properties.test_ncut_properties.


def test_ncut_small_network_by_hand():
    # Layer 0: a, b; layer 1: c, d. Edges a-c 1, a-d 2, b-d 3 (b-c is 0).
    # Modules {a, c} and {b, d}: cut = a-d = 2; vol{a,c} = 3 + 1 = 4, vol{b,d} = 3 + 5 = 8.
    w = [np.array([[1.0, -2.0], [0.0, 3.0]])]
    labels = [np.array([0, 1]), np.array([0, 1])]
    assert modcore.ncut(w, labels) == pytest.approx(2 / 4 + 2 / 8, rel=1e-12)


def test_ncut_ignores_isolated_neurons_and_empty_modules():
    w = [np.array([[1.0, 0.0], [0.0, 0.0]]), np.array([[2.0], [0.0]])]
    # Neuron 1 of layers 0 and 1 has no edges: -1 is allowed there.
    labels = [np.array([0, -1]), np.array([0, -1]), np.array([5])]
    # Modules {a, c} and {e}: cut = 2, vol0 = 1 + 3 = 4, vol5 = 2.
    assert modcore.ncut(w, labels) == pytest.approx(2 / 4 + 2 / 2)


def test_ncut_of_one_module_is_zero():
    weights = random_pruned_mlp((20, 30, 10), sparsity=0.5, seed=3)
    labels = [np.zeros(n, dtype=int) for n in (20, 30, 10)]
    assert modcore.ncut(weights, labels) == 0.0


def test_ncut_rejects_negative_label_on_connected_neuron():
    w = [np.ones((2, 2))]
    with pytest.raises(ValueError, match="label -1"):
        modcore.ncut(w, [np.array([0, -1]), np.array([0, 1])])


def test_ncut_rejects_wrong_label_shapes():
    w = [np.ones((2, 3))]
    with pytest.raises(ValueError, match="one array per group"):
        modcore.ncut(w, [np.zeros(2, int)])
    with pytest.raises(ValueError, match=r"labels\[1\] must have shape \(3,\)"):
        modcore.ncut(w, [np.zeros(2, int), np.zeros(2, int)])
    with pytest.raises(TypeError, match="integers"):
        modcore.ncut(w, [np.zeros(2), np.zeros(3)])
