"""Values that differ only by rounding: when is a unit's activation constant?

Identical inputs can give activations that differ by a few units in the last place (a
batched matmul sums in another order); the correlation of such rounding noise is noise,
so these units count as constant. The tolerance follows the dtype the values were
recorded in.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CONSTANT_STEPS", "constant_along"]

#: Values within this many rounding steps of their dtype (at their largest magnitude) are
#: one value.
CONSTANT_STEPS = 4


def constant_along(x: np.ndarray, axis: int) -> np.ndarray:
    """Whether the values along ``axis`` are equal up to their dtype's rounding.

    Constant means a spread ``max - min`` of at most ``CONSTANT_STEPS *
    finfo(dtype).eps * max|x|``; for integers, exactly equal.

    Examples
    --------
    >>> import numpy as np
    >>> one = np.float32(0.1)
    >>> x = np.array([[one, np.nextafter(one, np.float32(1))], [one, np.float32(0.2)]])
    >>> constant_along(x, axis=1).tolist()
    [True, False]
    """
    with np.errstate(over="ignore"):  # +-1e308 rows: an infinite spread, not constant
        spread = x.max(axis=axis) - x.min(axis=axis)
    if x.dtype.kind != "f":
        return spread == 0
    scale = np.abs(x).max(axis=axis).astype(np.float64)
    # float64 holds float32 (or float16) spreads and scales exactly.
    return spread.astype(np.float64) <= CONSTANT_STEPS * float(np.finfo(x.dtype).eps) * scale
