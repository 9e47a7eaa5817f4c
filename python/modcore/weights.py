"""Weight matrices from torch models, state dicts and weight files.

The hand-off from a trained network to modcore: :func:`weights_from_module`
returns ``(n_in, n_out)`` float arrays, the layout every modcore function takes,
transposing torch's ``(out, in)``. torch is imported only when a torch object
or a ``.pt`` file is given, so this module works without it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .io import check_weights

__all__ = ["weights_from_module"]

# The leaf names a Linear layer (possibly mid-pruning) puts in a state dict.
_LINEAR_KEYS = ("weight", "bias", "weight_orig", "weight_mask")
_EMBEDDING = re.compile(r"embed|(?:^|[._])(?:emb|wte|wpe)(?:[._]|$)")
_NPZ_POSITIONAL = re.compile(r"W(\d+)")


def weights_from_module(obj) -> list[np.ndarray]:
    """Weight matrices of an MLP, in layer order, as ``(n_in, n_out)`` arrays.

    Biases are ignored: the graph modcore clusters is built from weights only.

    Parameters
    ----------
    obj : torch.nn.Module, mapping, str or path-like
        - a module: its ``nn.Linear`` layers in registration order (the order of
          computation for ``nn.Sequential``); submodules without parameters or
          buffers (ReLU, Dropout, Flatten, Identity, containers) are skipped. A
          Linear layer mid-pruning gives its masked weights.
        - a state dict: the 2-D ``*.weight`` entries in key order (``*.bias``
          ignored; ``*.weight_orig`` times ``*.weight_mask`` for pruned layers).
        - a path to a ``.pt`` / ``.pth`` file (a state dict, or a dict with a
          ``"state_dict"`` entry such as a :mod:`modcore.nn.checkpoint`), read with
          ``torch.load(path, weights_only=True)`` so no pickled code runs.
        - a path to a ``.safetensors`` file holding a state dict. The format
          does not keep the order of its entries, so layers are ordered by the
          natural order of their names (``net.2`` before ``net.10``).
        - a path to a ``.npz`` file: entries named like a state dict are read as
          one (torch layout, transposed); entries ``W0``, ``W1``, ... are taken
          in numeric order and any other names in file order, both already in
          modcore's ``(n_in, n_out)`` layout (as ``np.savez(path, *weights)`` writes).

    Returns
    -------
    list of numpy.ndarray
        Float arrays (float32 stays float32; float16 / bfloat16 become float32),
        checked by :func:`modcore.io.check_weights`: shapes chain, values finite.

    Raises
    ------
    TypeError
        If ``obj`` is none of the above.
    FileNotFoundError
        If a path does not exist.
    ValueError
        If the network has a layer other than Linear with parameters (the
        message names it: a convolution, an embedding, a normalization ...), no
        Linear layer, shapes that do not chain, or the file cannot be parsed
        (the message names the file and the reason).
    ImportError
        If reading the file needs torch or safetensors and it is not installed.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "w.npz")
    >>> np.savez(path, W0=np.ones((4, 3)), W1=np.ones((3, 2)))
    >>> [w.shape for w in weights_from_module(path)]
    [(4, 3), (3, 2)]
    """
    if isinstance(obj, (str, os.PathLike)):
        weights = _from_file(Path(obj))
    elif isinstance(obj, Mapping):
        weights = _from_state_dict(obj, "state dict")
    elif _is_torch_module(obj):
        weights = _from_module(obj)
    else:
        raise TypeError(
            "weights_from_module expects a torch.nn.Module, a state dict or a path to a "
            f".pt/.pth, .safetensors or .npz file, got {type(obj).__name__}"
        )
    if not weights:
        raise ValueError("no Linear layer weights found")
    return check_weights(weights)


def _is_torch_module(obj) -> bool:
    # Checked by name so that modcore need not import torch to reject a non-module.
    return any(
        cls.__name__ == "Module" and cls.__module__ == "torch.nn.modules.module"
        for cls in type(obj).__mro__
    )


def _to_numpy(value) -> np.ndarray:
    if hasattr(value, "detach"):
        tensor = value.detach().cpu()
        # numpy has no bfloat16; widen all half-precision floats alike.
        if tensor.dtype.is_floating_point and tensor.dtype.itemsize < 4:
            tensor = tensor.float()
        # A copy: the caller's later optimizer steps must not change the result.
        return tensor.numpy().copy()
    return np.asarray(value)


def _from_module(module) -> list[np.ndarray]:
    from torch import nn  # the argument is a torch module, so torch is installed

    weights, linear_prefixes = [], []
    for name, layer in module.named_modules():
        # A Linear layer's own submodules (e.g. parametrizations) are part of its weight.
        if any(name.startswith(prefix) for prefix in linear_prefixes):
            continue
        if isinstance(layer, nn.Linear):
            weights.append(_to_numpy(layer.weight).T)
            linear_prefixes.append(f"{name}.")
            continue
        own = [n for n, _ in layer.named_parameters(recurse=False)]
        own += [n for n, _ in layer.named_buffers(recurse=False)]
        if own:
            raise ValueError(
                f"layer {name or '(root)'!r} is a {type(layer).__name__} "
                "with parameters or buffers "
                f"{own}; weights_from_module reads MLPs: Linear layers with parameter-free "
                "layers (ReLU, Dropout, Flatten, ...) between them"
            )
    return weights


def _from_state_dict(state: Mapping, where: str) -> list[np.ndarray]:
    weights = []
    for key, value in state.items():
        if not isinstance(key, str):
            raise ValueError(f"{where}: key {key!r} is not a string")
        prefix, _, leaf = key.rpartition(".")
        if leaf not in _LINEAR_KEYS:
            raise ValueError(
                f"{where}: key {key!r} is not a Linear layer's weight or bias; "
                "weights_from_module reads MLP state dicts only"
            )
        if leaf in ("bias", "weight_mask"):
            continue
        if _EMBEDDING.search(prefix.lower()):
            raise ValueError(
                f"{where}: key {key!r} looks like an embedding table, not a Linear layer"
            )
        weight = _to_numpy(value)
        if leaf == "weight_orig":
            mask_key = f"{key[: -len('orig')]}mask"
            if mask_key not in state:
                raise ValueError(f"{where}: key {key!r} has no matching {mask_key!r}")
            weight = weight * _to_numpy(state[mask_key])
        if weight.ndim != 2:
            kind = {1: " (a normalization layer's scale?)", 4: " (a convolution kernel?)"}
            raise ValueError(
                f"{where}: key {key!r} holds a {weight.ndim}-D tensor of shape {weight.shape}"
                f"{kind.get(weight.ndim, '')}; a Linear weight is 2-D (out, in)"
            )
        weights.append(weight.T)
    return weights


def _from_file(path: Path) -> list[np.ndarray]:
    if not path.exists():
        raise FileNotFoundError(f"no weight file at {path}")
    suffix = path.suffix.lower()
    if suffix in (".pt", ".pth"):
        return _from_pt(path)
    if suffix == ".safetensors":
        return _from_safetensors(path)
    if suffix == ".npz":
        return _from_npz(path)
    raise ValueError(
        f"{path}: unsupported weight file type {suffix!r}; expected .pt/.pth, .safetensors or .npz"
    )


def load_torch_file(path: Path):
    """``torch.load(path, weights_only=True)`` (no pickled code runs) on the CPU.

    Parameters
    ----------
    path : pathlib.Path
        A ``.pt`` / ``.pth`` file.

    Returns
    -------
    object
        What the file holds: tensors, containers of them and plain values only.

    Raises
    ------
    ValueError
        Naming the file and the reason when it cannot be parsed (corrupt,
        truncated, not a torch file, or pickled objects other than tensors).
    ImportError
        If torch is not installed.

    Examples
    --------
    >>> import os, tempfile, torch
    >>> path = os.path.join(tempfile.mkdtemp(), "w.pt")
    >>> torch.save({"0.weight": torch.ones(2, 3)}, path)
    >>> load_torch_file(path)["0.weight"].shape
    torch.Size([2, 3])
    """
    try:
        import torch
    except ImportError as exc:
        raise ImportError(f"reading {path} needs torch: pip install 'modcore[torch]'") from exc
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    # torch.load raises many types (UnpicklingError, RuntimeError, OSError,
    # EOFError, ...) for a damaged or foreign file; all mean "cannot parse".
    except Exception as exc:
        raise ValueError(
            f"{path}: cannot be read by torch.load(weights_only=True): {_reason(exc)}"
        ) from exc


def _from_pt(path: Path) -> list[np.ndarray]:
    obj = load_torch_file(path)
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping):
        raise ValueError(f"{path}: holds a {type(obj).__name__}, expected a state dict")
    return _from_state_dict(obj, str(path))


def _reason(exc: Exception) -> str:
    """The useful line of a torch.load error (its weights-only message is a page long)."""
    text = str(exc)
    found = re.search(
        r"WeightsUnpickler error:\s*(.+?)(?: was not an allowed global| Please|\n\n|$)", text, re.S
    )
    if found is None:
        message = text.strip() or "no message"
        return f"{type(exc).__name__}: {message} (corrupt, truncated or not a torch file)"
    reason = " ".join(found.group(1).split())
    if "Unsupported global" not in reason:
        return f"{reason} (corrupt, truncated or not a torch file)"
    return (
        f"{reason} - the file pickles Python objects, not only tensors (a whole model "
        "saved with torch.save(model)?); save model.state_dict() instead"
    )


def _from_safetensors(path: Path) -> list[np.ndarray]:
    try:
        from safetensors.numpy import load_file
    except ImportError as exc:
        raise ImportError(f"reading {path} needs safetensors: pip install safetensors") from exc
    try:
        tensors = load_file(path)
    # safetensors raises its own SafetensorError, plus OSError / TypeError on
    # damaged files and dtypes numpy lacks (bfloat16).
    except Exception as exc:
        raise ValueError(
            f"{path}: not a readable safetensors file ({type(exc).__name__}: {exc})"
        ) from exc
    ordered = sorted(tensors, key=_natural_key)
    return _from_state_dict({key: tensors[key] for key in ordered}, str(path))


def _natural_key(name: str):
    # re.split with a group alternates text and digits, so positions compare like with like.
    return [int(part) if i % 2 else part for i, part in enumerate(re.split(r"(\d+)", name))]


def _from_npz(path: Path) -> list[np.ndarray]:
    with open(path, "rb") as f:
        # Otherwise np.load reads a non-zip file as a pickle and blames pickling.
        if f.read(2) != b"PK":
            raise ValueError(f"{path}: not a readable .npz file (not a zip archive of .npy arrays)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    # np.load raises BadZipFile, ValueError, OSError, EOFError, zlib.error ...
    # for damaged files, and AttributeError when the file is a single .npy.
    except Exception as exc:
        raise ValueError(f"{path}: not a readable .npz file ({type(exc).__name__}: {exc})") from exc
    for key, value in arrays.items():
        # NpzFile hands back a member that is not a .npy array as raw bytes.
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "fiu":
            raise ValueError(f"{path}: entry {key!r} is not a numeric array")
    keys = list(arrays)
    if keys and all(_NPZ_POSITIONAL.fullmatch(key) for key in keys):
        keys.sort(key=lambda key: int(key[1:]))
    elif keys and all(key.rpartition(".")[2] in _LINEAR_KEYS for key in keys):
        return _from_state_dict(arrays, str(path))
    return [arrays[key] for key in keys]
