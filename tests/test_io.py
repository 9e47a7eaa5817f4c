"""modcore.network.checks's integer check: the one place every integer parameter is checked."""

import numpy as np
import pytest

from modcore.network.checks import all_finite, check_positive_int


@pytest.mark.parametrize("value", [3, np.int64(3), np.uint8(3), np.int32(3)])
def test_any_integer_type_becomes_a_python_int(value):
    checked = check_positive_int(value, "n_init")
    assert checked == 3 and type(checked) is int


@pytest.mark.parametrize("value", [3.0, np.float64(3), True, "3", None, [3]])
def test_a_non_integer_is_a_type_error(value):
    with pytest.raises(TypeError, match=r"^n_init must be an int, got "):
        check_positive_int(value, "n_init")


@pytest.mark.parametrize(
    "value, bounds, message",
    [
        (0, {}, "n_init must be >= 1, got 0"),
        (-5, {"minimum": 0}, "index must be >= 0, got -5"),
        (11, {"maximum": 10}, "n_init must be <= 10, got 11"),
        (
            np.int64(2**40),
            {"maximum": 2**31 - 1},
            "n_init must be <= 2147483647, got 1099511627776",
        ),
    ],
)
def test_out_of_range_is_a_value_error(value, bounds, message):
    name = "index" if "minimum" in bounds else "n_init"
    with pytest.raises(ValueError, match=f"^{message}$"):
        check_positive_int(value, name, **bounds)


def test_the_bounds_themselves_are_allowed():
    assert check_positive_int(0, "index", minimum=0, maximum=0) == 0
    assert check_positive_int(2**64 - 1, "seed", minimum=0, maximum=2**64 - 1) == 2**64 - 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_all_finite_agrees_with_isfinite_wherever_a_bad_value_sits(dtype):
    # Oracle: numpy's elementwise isfinite. Every non-finite kind at the first, a
    # middle and the last position, beside finite values of both signs and extremes.
    rng = np.random.default_rng(0)
    base = rng.normal(size=(7, 9)).astype(dtype)
    if np.issubdtype(dtype, np.floating):
        base[0, 0], base[1, 1] = np.finfo(dtype).max, -np.finfo(dtype).max
    cases = [base]
    if np.issubdtype(dtype, np.floating):
        for bad in (np.nan, np.inf, -np.inf):
            for flat in (0, 31, base.size - 1):
                a = base.copy()
                a.flat[flat] = bad
                cases.append(a)
    cases.append(np.empty((0, 3), dtype=dtype))
    for a in cases:
        assert all_finite(a) == bool(np.isfinite(a).all())
