"""modcore.nn.regularizers.laplacian_eigenvalues refuses what it cannot compute: a count of
eigenvalues that is not a positive integer, and negative edge weights, which it once took
(n_eigenvalues=0 gave an empty tensor with a DegenerateEigenvalueWarning about eigenvalue
0, 2.5 and "2" were read as 2, and -|W| gave the eigenvalues of |W|)."""

import warnings

import pytest

torch = pytest.importorskip("torch")

from modcore.nn.regularizers import laplacian_eigenvalues


def blocks(sign=1.0):
    weights = torch.rand(4, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    return [((0, 1), sign * (weights + 0.1))]


@pytest.mark.parametrize(
    "k, error, message",
    [
        (0, ValueError, "n_eigenvalues"),
        (-1, ValueError, "n_eigenvalues"),
        (2.5, TypeError, "n_eigenvalues"),
        ("2", TypeError, "n_eigenvalues"),
    ],
)
def test_the_count_must_be_a_positive_integer(k, error, message):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(error, match=message):
            laplacian_eigenvalues([4, 5], blocks(), k)


def test_negative_weights_are_refused_by_block():
    with pytest.raises(ValueError, match="block 0->1 has negative weights"):
        laplacian_eigenvalues([4, 5], blocks(-1.0), 2)


def test_a_valid_call_still_gives_its_eigenvalues():
    lam = laplacian_eigenvalues([4, 5], blocks(), 2)
    assert lam.shape == (2,) and bool((lam > 0).all()) and bool((lam[1:] >= lam[:-1]).all())
