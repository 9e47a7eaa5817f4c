"""Benjamini-Hochberg adjusted p-values: a hand-worked vector, scipy as an oracle, bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import modcore
from modcore.method.multiple_testing import benjamini_hochberg


def test_a_hand_worked_vector():
    # m = 6. Sorted: 0.001, 0.012, 0.035, 0.04, 0.2, 0.6; times m / rank:
    # 0.006, 0.036, 0.07, 0.06, 0.24, 0.6. The running minimum from the top
    # lowers 0.07 (rank 3) to 0.06 (rank 4); the rest stay.
    p = [0.04, 0.001, 0.035, 0.2, 0.012, 0.6]
    expected = [0.06, 0.006, 0.06, 0.24, 0.036, 0.6]
    np.testing.assert_allclose(benjamini_hochberg(p), expected, rtol=1e-12)


def test_ties_one_value_and_empty():
    # Two equal p-values: ranks 1 and 2 give 0.04 and 0.02, so both become 0.02.
    np.testing.assert_allclose(benjamini_hochberg([0.02, 0.02]), [0.02, 0.02], rtol=1e-12)
    assert benjamini_hochberg([0.3]).tolist() == [0.3]
    assert benjamini_hochberg([]).shape == (0,)
    assert benjamini_hochberg(np.array([1, 0])).tolist() == [1.0, 0.0]


@pytest.fixture(scope="module")
def scipy_bh():
    stats = pytest.importorskip("scipy.stats")
    if not hasattr(stats, "false_discovery_control"):
        pytest.skip("scipy < 1.11 has no false_discovery_control")
    return stats.false_discovery_control


@settings(deadline=None)  # the machine is shared: no timing in tests
@given(p=arrays(np.float64, st.integers(1, 40), elements=st.floats(0, 1)))
def test_equals_scipy(scipy_bh, p):
    np.testing.assert_allclose(benjamini_hochberg(p), scipy_bh(p, method="bh"), rtol=1e-12)


def test_exported_from_modcore():
    assert modcore.benjamini_hochberg is benjamini_hochberg


@pytest.mark.parametrize(
    "p, error, message",
    [
        ([0.1, np.nan], ValueError, r"in \[0, 1\], got nan"),
        ([0.1, 1.5], ValueError, r"in \[0, 1\], got 1.5"),
        ([-0.1], ValueError, r"in \[0, 1\], got -0.1"),
        ([[0.1, 0.2]], ValueError, r"1-D, got shape \(1, 2\)"),
        (["0.1"], TypeError, "expected a real float or integer array"),
        ([True, False], TypeError, "dtype bool"),
    ],
)
def test_bad_input(p, error, message):
    with pytest.raises(error, match=message):
        benjamini_hochberg(p)
