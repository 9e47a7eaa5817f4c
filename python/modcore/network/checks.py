"""Validation at the border: every public function turns its inputs into
checked arrays and a seed here, so the C++ core only ever sees clean data."""

from __future__ import annotations

import numbers
import os
from collections.abc import Mapping

import numpy as np

__all__ = [
    "all_finite",
    "check_weights",
    "check_seed",
    "check_n_jobs",
    "check_positive_int",
    "available_cores",
    "is_tensor",
    "is_torch_module",
]


def check_weights(weights) -> list[np.ndarray]:
    """Return the weight matrices as a list of C-contiguous float32/float64 arrays.

    ``weights[l]`` has shape ``(n_l, n_{l+1})``: rows are the neurons of layer
    ``l``, columns those of layer ``l + 1``. Float32 and float64 C-contiguous
    arrays are passed through without a copy; other real dtypes and layouts are
    converted.

    Raises
    ------
    TypeError
        If ``weights`` is not a sequence of arrays, or an array is not real-valued
        (bool, complex, object, strings).
    ValueError
        If the list is empty, an array is not 2-D or has a zero dimension, the
        shapes do not chain, or an entry is NaN or infinite.
    """
    if isinstance(weights, Mapping):
        raise TypeError(
            "weights is a mapping (a state dict?); convert it with "
            "modcore.weights_from_module(state_dict)"
        )
    if isinstance(weights, (np.ndarray, str, bytes)) or not hasattr(weights, "__len__"):
        raise TypeError(
            f"weights must be a list of 2-D arrays, one per layer, got {type(weights).__name__} "
            "(modcore's functions also take a torch.nn.Module, a state dict, a weight file "
            "path or a modcore.Network)"
        )
    if len(weights) == 0:
        raise ValueError("weights is empty: expected at least one weight matrix")
    checked: list[np.ndarray] = []
    for l, w in enumerate(weights):
        if is_torch_module(w):
            raise TypeError(
                f"weights[{l}] is a torch {type(w).__name__} module, not a weight array: "
                "pass the model itself (e.g. nn.Sequential(*layers)), its state_dict() or "
                "a weight file path"
            )
        arr = real_array(w, f"weights[{l}]")
        if arr.ndim != 2:
            raise ValueError(
                f"weights[{l}] must be 2-D (n_in, n_out), got {arr.ndim}-D shape {arr.shape}"
            )
        if 0 in arr.shape:
            raise ValueError(f"weights[{l}] has an empty dimension: shape {arr.shape}")
        if arr.dtype not in (np.float32, np.float64):
            arr = arr.astype(np.float64)
        arr = np.ascontiguousarray(arr)
        if not all_finite(arr):
            raise ValueError(f"weights[{l}] contains NaN or infinite values")
        if l > 0 and arr.shape[0] != checked[-1].shape[1]:
            raise ValueError(
                f"weights[{l}] has shape {arr.shape} but weights[{l - 1}] has "
                f"{checked[-1].shape[1]} output columns; expected {checked[-1].shape[1]} rows "
                "(weights are (n_in, n_out); transpose torch's (out, in) matrices)"
            )
        checked.append(arr)
    return checked


def all_finite(a: np.ndarray) -> bool:
    """Whether a real array holds no NaN and no infinity.

    By its minimum and maximum (NaN propagates through both), so no boolean array
    of ``a``'s size is made: for a large dense layer that temporary would stay in
    the process's resident memory beside the graph built next.

    Examples
    --------
    >>> import numpy as np
    >>> all_finite(np.array([[1.0, -2.0]])), all_finite(np.array([1.0, np.nan]))
    (True, False)
    """
    return a.size == 0 or bool(np.isfinite(a.min()) and np.isfinite(a.max()))


def real_array(a, where: str) -> np.ndarray:
    """``a`` as a numpy array of real numbers (integers or floats).

    Raises TypeError for bool, complex, object, string, datetime/timedelta
    dtypes, and for masked arrays, whose masks modcore would otherwise ignore.
    """
    if isinstance(a, np.ma.MaskedArray):
        raise TypeError(
            f"{where} is a masked array; modcore would ignore its mask: pass "
            "a.filled(0) so that masked entries mean no edge"
        )
    if is_tensor(a):
        a = tensor_to_numpy(a, where)
    arr = np.asarray(a)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{where} has dtype {arr.dtype}; expected a real float or integer array")
    return arr


def tensor_to_numpy(value, where: str) -> np.ndarray:
    """A tensor (or array-like) as a numpy array it does not share: dense, real values
    loaded, half precision widened; ``where`` names it in errors."""
    if hasattr(value, "detach"):
        import torch  # the value is a tensor, so torch is installed

        tensor = value.detach()
        if tensor.layout != torch.strided:
            raise ValueError(f"{where} is a {tensor.layout} tensor; expected a dense one")
        if tensor.is_meta:
            raise ValueError(
                f"{where} is a meta tensor (a shape without values): load or initialise the "
                "model's weights before reading it"
            )
        # A stride-0 view (torch.zeros(n).expand(n, n)) pickles as its small storage:
        # copying it would allocate numel elements that the file does not hold.
        stored = tensor.untyped_storage().nbytes()
        if tensor.numel() * tensor.element_size() > stored:
            raise ValueError(
                f"{where} is an expanded view: shape {tuple(tensor.shape)} "
                f"({tensor.numel()} elements) over {stored} bytes of storage; refused rather "
                "than materialized (save a real tensor, e.g. t.contiguous())"
            )
        tensor = tensor.cpu()
        # numpy has no bfloat16; widen all half-precision floats alike.
        if tensor.dtype.is_floating_point and tensor.dtype.itemsize < 4:
            tensor = tensor.float()
        # A copy: the caller's later optimizer steps must not change the result.
        return tensor.numpy().copy()
    return np.asarray(value)


def is_torch_module(obj) -> bool:
    """Whether ``obj`` is a ``torch.nn.Module``, checked by class name so that
    modcore never imports torch to reject a non-module."""
    return any(
        cls.__name__ == "Module" and cls.__module__ == "torch.nn.modules.module"
        for cls in type(obj).__mro__
    )


def is_tensor(obj) -> bool:
    """Whether ``obj`` is a torch tensor (by its class's module: torch is not imported)."""
    return type(obj).__module__.startswith("torch") and hasattr(obj, "detach")


def check_seed(seed) -> int:
    """Turn ``seed`` (None, int or numpy Generator) into a 64-bit integer seed.

    None draws fresh entropy; the value used is stored in results so a run can
    be repeated exactly.
    """
    if seed is None:
        return int(np.random.SeedSequence().generate_state(1, np.uint64)[0])
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(0, 2**63, dtype=np.int64))
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        if not 0 <= int(seed) < 2**64:
            raise ValueError(f"seed must be in [0, 2**64), got {seed}")
        return int(seed)
    raise TypeError(
        f"seed must be None, an int or a numpy.random.Generator, got {type(seed).__name__}"
    )


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def check_n_jobs(n_jobs) -> int:
    """Threads to use: None means all available cores; a positive int is capped at
    them (more threads than cores only slow the work, and thousands exhaust the
    process's memory for stacks)."""
    if n_jobs is None:
        return available_cores()
    return min(check_positive_int(n_jobs, "n_jobs"), available_cores())


def check_positive_int(value, name: str, *, minimum: int = 1, maximum: int | None = None) -> int:
    """Return ``value`` as an int after checking ``minimum <= value <= maximum``.

    Parameters
    ----------
    value : int
        A Python or numpy integer (bool is refused).
    name : str
        The parameter's name, for the messages.
    minimum : int, default=1
        Smallest allowed value.
    maximum : int or None, default=None
        Largest allowed value; None means no upper bound.

    Returns
    -------
    int

    Raises
    ------
    TypeError
        If ``value`` is not an integer.
    ValueError
        If it is outside ``[minimum, maximum]``.

    Examples
    --------
    >>> import numpy as np
    >>> check_positive_int(np.int64(3), "n_init")
    3
    >>> check_positive_int(0, "index", minimum=0, maximum=9)
    0
    """
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value
