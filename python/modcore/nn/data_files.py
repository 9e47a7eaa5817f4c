"""Data files read from disk, as untrusted input: IDX files (the MNIST format) and
CIFAR-10's python batches (unpickled with an allow-list)."""

from __future__ import annotations

import gzip
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np

from ..common.types import PathLike

__all__ = ["read_idx", "read_cifar_batch", "cifar_inputs"]

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: PathLike) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzip-compressed or raw.

    Compression is detected from the file's first bytes, not its name.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    numpy.ndarray
        The array with the shape and type the header gives, in native byte order.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is not valid gzip, not IDX, or its size does not match its
        header (truncated or trailing bytes); the message names the file.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"{path}: corrupt gzip data ({exc})") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(
            f"{path}: not an IDX file "
            f"(expected magic bytes 00 00 <type> <ndim>, got {raw[:4].hex(' ')})"
        )
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX element type 0x{code:02x}")
    if ndim == 0:
        raise ValueError(f"{path}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header ({len(raw)} bytes, need {header})")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_DTYPES[code])
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        problem = "truncated" if len(raw) < expected else "trailing bytes"
        raise ValueError(
            f"{path}: {problem}: header declares shape {shape} of {dtype.name} "
            f"({expected} bytes in all) but the data holds {len(raw)} bytes"
        )
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles only what a CIFAR-10 batch holds: dicts, lists, bytes, numpy arrays and scalars.

    Pickle runs arbitrary code otherwise, and data files are untrusted input.
    """

    _ALLOWED = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("_codecs", "encode"),
        }
    )

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def read_cifar_batch(path: Path):
    try:
        with open(path, "rb") as f:
            batch = _ArrayUnpickler(f, encoding="bytes").load()
        data = np.asarray(batch[b"data"])
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (
        pickle.UnpicklingError,
        EOFError,
        KeyError,
        TypeError,
        ValueError,
        AttributeError,
    ) as exc:
        raise ValueError(
            f"{path}: not a CIFAR-10 python batch ({type(exc).__name__}: {exc})"
        ) from exc
    if (
        data.dtype != np.uint8
        or data.ndim != 2
        or data.shape[1] != 3072
        or labels.shape != (len(data),)
    ):
        raise ValueError(
            f"{path}: expected uint8 data of shape (n, 3072) and n labels, got data "
            f"{data.dtype} {data.shape} and labels {labels.shape}"
        )
    return data, labels


def cifar_inputs(data: np.ndarray, rgb: bool) -> np.ndarray:
    """Images (n, 3, 32, 32), or grayscale (n, 32, 32); rows of ``data`` are channel-major."""
    scaled = data.astype(np.float32).reshape(len(data), 3, 32, 32) / 255.0
    if rgb:
        return scaled
    red, green, blue = scaled.transpose(1, 0, 2, 3)
    return 0.299 * red + 0.587 * green + 0.114 * blue
