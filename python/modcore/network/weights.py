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
from typing import TYPE_CHECKING, Any

import numpy as np

from ..common.types import PathLike
from .checks import check_weights, is_torch_module, tensor_to_numpy
from .torch_files import MODEL_ROUTES, load_torch_file

if TYPE_CHECKING:
    import torch

__all__ = ["weights_from_module"]

# The leaf names a Linear layer (possibly mid-pruning) puts in a state dict.
_LINEAR_KEYS = ("weight", "bias", "weight_orig", "weight_mask")
_EMBEDDING = re.compile(r"embed|(?:^|[._])(?:emb|wte|wpe)(?:[._]|$)")
_NPZ_POSITIONAL = re.compile(r"W(\d+)")


def weights_from_module(obj: torch.nn.Module | Mapping[str, Any] | PathLike) -> list[np.ndarray]:
    """Weight matrices of an MLP, in layer order, as ``(n_in, n_out)`` arrays.

    Biases are ignored: the graph modcore clusters is built from weights only.

    Parameters
    ----------
    obj : torch.nn.Module, mapping, str or path-like
        - a module: its ``nn.Linear`` layers in the order its forward calls them,
          read by running it once on a zeros batch of two rows (in eval mode;
          modcore's hooks are removed and the modes restored afterwards, but
          hooks of your own see that call): each Linear must be called once, on what
          the previous one computed (through parameter-free layers: ReLU,
          Dropout, Flatten, ...), and the output must come from the last, so
          tied weights (a Linear used twice), parallel branches and skip
          connections are refused (pass the model to
          :func:`modcore.spectral_cluster` itself, which traces them into a
          :class:`modcore.Network`). A Linear layer mid-pruning gives its masked
          weights. The model is also traced (:mod:`modcore.network.torch.trace`): an op between
          two Linear layers that moves, drops or scales units (a permutation, a pad,
          pooling over features, a scalar multiply) is refused, since the matrices
          alone would then not be the model's graph.
        - a state dict: the 2-D ``*.weight`` entries in key order (``*.bias``
          ignored; ``*.weight_orig`` times ``*.weight_mask`` for pruned layers).
          A state dict does not record how the layers are wired, so it is read
          as a chain in key order; what cannot be one is refused (shapes that do
          not chain, two keys holding one tensor: tied weights), but a model
          whose forward calls its layers in another order, or one layer twice,
          cannot be told apart: read such models from the module itself.
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
        Float arrays (float32 stays float32; float16 / bfloat16 become float32,
        also from ``.safetensors``, where bfloat16 needs torch),
        checked by :func:`modcore.network.checks.check_weights`: shapes chain, values finite.

    Raises
    ------
    TypeError
        If ``obj`` is none of the above.
    FileNotFoundError
        If a path does not exist.
    ValueError
        If the network has a layer other than Linear with parameters (the
        message names it: a convolution, an embedding, a normalization ...), no
        Linear layer, shapes that do not chain, layers that do not form a chain
        (above), or the file cannot be parsed, is not a regular file, holds
        pickled code (refused for safety: no code in a file is run) or a tensor
        that is a stride-0 expanded view (refused rather than materialized);
        the message names the file, and the key where there is one.
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
    elif is_torch_module(obj):
        weights = _from_module(obj)
    else:
        raise TypeError(
            "weights_from_module expects a torch.nn.Module, a state dict or a path to a "
            f".pt/.pth, .safetensors or .npz file, got {type(obj).__name__}"
        )
    if not weights:
        raise ValueError("no Linear layer weights found")
    return check_weights(weights)


def _from_module(module) -> list[np.ndarray]:
    from torch import nn  # the argument is a torch module, so torch is installed

    linears: list[tuple[str, nn.Linear]] = []
    linear_prefixes: list[str] = []
    for name, layer in module.named_modules():
        # A Linear layer's own submodules (e.g. parametrizations) are part of its weight.
        if any(name.startswith(prefix) for prefix in linear_prefixes):
            continue
        if isinstance(layer, nn.Linear):
            linears.append((name, layer))
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
    if not linears:
        return []
    names: dict[int, str] = {}
    for name, layer in module.named_modules(remove_duplicate=False):
        if isinstance(layer, nn.Linear) and id(layer) in names and names[id(layer)] != name:
            raise ValueError(
                f"Linear layer {names[id(layer)]!r} is also registered as {name!r} (tied "
                "weights); weights_from_module reads chains of distinct layers: pass the "
                "model to modcore.spectral_cluster, which traces it"
            )
        names.setdefault(id(layer), name)
    weights = [
        tensor_to_numpy(layer.weight, f"layer {name!r}").T
        for name, layer in _call_order(module, linears)
    ]
    _check_plain_chain(module, weights)
    return weights


def _check_plain_chain(module, weights: list) -> None:
    """The tracer must read these matrices as the graph: an op between two Linear layers
    that moves, drops or scales units (a permutation, a pad, a pooling over features,
    a scalar multiply) would make the chain a wrong graph."""
    from .torch.trace import network_from_module

    net = network_from_module(module)  # a ValueError here names the op it cannot read
    blocks = [b.dense for b in net.blocks] if net.is_chain else []
    if len(blocks) == len(weights) and all(
        b is not None and b.shape == w.shape and np.allclose(b, np.abs(w), rtol=1e-6, atol=0)
        for b, w in zip(blocks, weights)
    ):
        return
    raise ValueError(
        f"the {type(module).__name__}'s forward moves, drops or scales units between its "
        "Linear layers (a permutation, padding, pooling over features or a scalar multiply), "
        "so its weight matrices alone are not its graph: pass the model itself to "
        "modcore.spectral_cluster (or modcore.Network.from_torch), which routes those ops"
    )


def _call_order(module, linears: list) -> list:
    """The (name, Linear) pairs in the order the forward calls them, checking that
    they form a chain: each called once, on a tensor computed from the previous
    one's output alone (the input for the first), the output from the last alone.

    Dependencies are read from the autograd graph of one forward pass on zeros,
    with every Linear's output replaced by a fresh leaf tensor, so each tensor's
    sources are the leaves its graph reaches: values play no part.
    """
    import torch

    index = {id(layer): i for i, (_, layer) in enumerate(linears)}
    leaves: dict[
        int, int
    ] = {}  # id(leaf tensor) -> source: -1 the input, i the output of linears[i]
    calls = []  # (linears index, sources of its input)

    def before(layer, args):
        calls.append((index[id(layer)], _sources(args[0], leaves) if args else set()))

    def after(layer, args, output):
        leaf = output.detach().requires_grad_(True)
        leaves[id(leaf)] = index[id(layer)]
        return leaf.clone()  # not the leaf itself: in-place ops (ReLU(inplace=True)) follow

    first = linears[0][1].weight
    widths = list(dict.fromkeys(layer.in_features for _, layer in linears))
    modes = [(m, m.training) for m in module.modules()]
    handles = []
    try:
        module.eval()
        for _, layer in linears:
            handles.append(layer.register_forward_pre_hook(before))
            handles.append(layer.register_forward_hook(after))
        with torch.enable_grad():
            for n_in in widths:  # the first Linear called may not be the first registered
                calls.clear()
                leaves.clear()
                x = torch.zeros(2, n_in, dtype=first.dtype, device=first.device, requires_grad=True)
                leaves[id(x)] = -1
                try:
                    output = module(x.clone())
                    break
                except Exception as exc:
                    error = exc
            else:
                raise ValueError(
                    f"weights_from_module runs the {type(module).__name__} once on a zeros batch "
                    f"of shape (2, in_features) to read the order of its Linear layers, and it "
                    f"failed for in_features in {widths}: {type(error).__name__}: {error}"
                )
            out_sources = _sources(output, leaves) if torch.is_tensor(output) else None
    finally:
        for handle in handles:
            handle.remove()
        for m, training in modes:
            m.training = training

    def refuse(why: str):
        return ValueError(
            f"the {type(module).__name__}'s Linear layers do not form a chain: "
            f"{why}; weights_from_module reads MLPs: pass the model to "
            "modcore.spectral_cluster instead, which traces branches and shared "
            "layers into a modcore.Network"
        )

    order: list[int] = []
    for i, sources in calls:
        name = linears[i][0]
        if i in order:
            raise refuse(f"layer {name!r} is called twice (tied weights)")
        expected = order[-1] if order else -1
        if sources != {expected}:
            got = sorted(_describe(s, linears) for s in sources) or ["no input"]
            raise refuse(
                f"layer {name!r} reads {', '.join(got)}, expected "
                f"{_describe(expected, linears)} alone (a branch or skip connection)"
            )
        order.append(i)
    unused = [linears[i][0] for i in range(len(linears)) if i not in order]
    if unused:
        raise refuse(f"layers {unused} are not called by the forward")
    if out_sources != {order[-1]}:
        raise refuse(
            f"the output does not come from the last layer called ({linears[order[-1]][0]!r}) alone"
        )
    return [linears[i] for i in order]


def _sources(tensor, leaves: dict) -> set:
    """Which leaves of ``leaves`` (by id) ``tensor`` is computed from; -2 stands for
    any other tensor that requires a gradient (a weight used outside its layer)."""
    found, seen, stack = set(), set(), [tensor.grad_fn]
    if tensor.grad_fn is None:
        return {leaves.get(id(tensor), -2)} if tensor.requires_grad else set()
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        variable = getattr(fn, "variable", None)  # AccumulateGrad: a leaf
        if variable is not None:
            found.add(leaves.get(id(variable), -2))
        else:
            stack.extend(next_fn for next_fn, _ in fn.next_functions)
    return found


def _describe(source: int, linears: list) -> str:
    if source == -1:
        return "the input"
    if source == -2:
        return "a parameter used outside its layer"
    return f"the output of {linears[source][0]!r}"


def _from_state_dict(state: Mapping, where: str) -> list[np.ndarray]:
    weights: list[np.ndarray] = []
    storages: dict = {}
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
        weight = tensor_to_numpy(value, f"{where}: key {key!r}")  # checks a tensor's layout
        if hasattr(value, "untyped_storage") and value.numel() > 0:
            same = (
                value.untyped_storage().data_ptr(),
                value.storage_offset(),
                tuple(value.shape),
                value.stride(),
            )
            shared = storages.setdefault(same, key)
            if shared != key:
                raise ValueError(
                    f"{where}: keys {shared!r} and {key!r} hold the same tensor (tied weights); "
                    "a state dict does not say where a shared layer is used: pass the model "
                    "to modcore.spectral_cluster, which traces it"
                )
        if leaf == "weight_orig":
            mask_key = f"{key[: -len('orig')]}mask"
            if mask_key not in state:
                raise ValueError(f"{where}: key {key!r} has no matching {mask_key!r}")
            mask = tensor_to_numpy(state[mask_key], f"{where}: key {mask_key!r}")
            if mask.shape != weight.shape:
                raise ValueError(
                    f"{where}: key {mask_key!r} has shape {mask.shape} but {key!r} has "
                    f"{weight.shape}; a pruning mask has its weight's shape (not broadcast)"
                )
            weight = weight * mask
        if weight.ndim != 2:
            kind = {1: " (a normalization layer's scale?)", 4: " (a convolution kernel?)"}
            raise ValueError(
                f"{where}: key {key!r} holds a {weight.ndim}-D tensor of shape {weight.shape}"
                f"{kind.get(weight.ndim, '')}; a state dict alone is read as a chain of "
                "Linear layers (2-D weights, out x in), and a model with other layers needs "
                f"its code to be read. Routes that work: {MODEL_ROUTES}"
            )
        weights.append(weight.T)
    return weights


def _from_file(path: Path) -> list[np.ndarray]:
    if not path.exists():
        raise FileNotFoundError(f"no weight file at {path}")
    if not path.is_file():  # a directory, or a FIFO or device, whose open() may block
        kind = "a directory" if path.is_dir() else "not a regular file"
        raise ValueError(f"{path}: {kind}; expected a .pt/.pth, .safetensors or .npz file")
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


def _from_pt(path: Path) -> list[np.ndarray]:
    obj = load_torch_file(path)
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping):
        raise ValueError(f"{path}: holds a {type(obj).__name__}, expected a state dict")
    return _from_state_dict(obj, str(path))


def _from_safetensors(path: Path) -> list[np.ndarray]:
    try:
        from safetensors import safe_open
        from safetensors.numpy import load_file
    except ImportError as exc:
        raise ImportError(f"reading {path} needs safetensors: pip install safetensors") from exc
    try:
        with safe_open(path, framework="numpy") as f:
            bfloat16 = any(f.get_slice(key).get_dtype() == "BF16" for key in f.keys())
        tensors = _bfloat16_safetensors(path) if bfloat16 else load_file(path)
    except ImportError:
        raise
    # safetensors raises its own SafetensorError, plus OSError / TypeError on
    # damaged files.
    except Exception as exc:
        raise ValueError(
            f"{path}: not a readable safetensors file ({type(exc).__name__}: {exc})"
        ) from exc
    ordered = sorted(tensors, key=_natural_key)
    return _from_state_dict({key: tensors[key] for key in ordered}, str(path))


def _bfloat16_safetensors(path: Path) -> dict:
    """numpy has no bfloat16: such files are read as torch tensors (widened by tensor_to_numpy)."""
    try:
        from safetensors.torch import load_file
    except ImportError as exc:
        raise ImportError(
            f"{path} holds bfloat16 tensors, which numpy cannot read: reading "
            "it needs torch: pip install 'modcore[torch]'"
        ) from exc
    return load_file(path)


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
