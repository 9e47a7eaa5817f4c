"""The one conversion point of every public function that takes a network: any accepted
input (a Network, arrays, a scipy.sparse adjacency, a torch module, a state dict, a weight or
checkpoint file) to a :class:`~modcore.network.network.Network`, by its reader."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .checks import is_tensor, is_torch_module
from .network import Network, _is_sparse

__all__ = ["ACCEPTED", "as_network"]

# What every public function that takes a network accepts (as_network reads them all).
ACCEPTED = (
    "a modcore.Network, a list of 2-D weight arrays (n_in, n_out), a torch.nn.Module, "
    "a state dict, a path to a .pt/.pth, .safetensors or .npz file or to a torch.export "
    "program (.pt2), or a scipy.sparse adjacency"
)


def as_network(obj, *, input_shape=None, verify=None, view=None) -> Network:
    """The :class:`Network` behind any input modcore accepts: the one conversion
    point of every public function that takes a network.

    A Network is returned as is; a list of 2-D arrays (numpy, or torch tensors)
    is a chain, its entries kept as given; a scipy.sparse matrix is a precomputed
    adjacency; a torch module, whatever its architecture, is read by the tracer
    (:func:`modcore.network.torch.trace.network_from_module`, verified against the model's
    own autograd dependence; ``input_shape`` excludes the batch dimension); a
    modcore checkpoint file (:mod:`modcore.nn.checkpoint`) rebuilds its model,
    which is traced; any other state dict or weight file path (str or
    path-like) is a chain read by :func:`modcore.weights_from_module`; a ``.pt2``
    file (``torch.export.save``) is read by the tracer through
    :mod:`modcore.network.torch.exported`, without running pickled code. torch is
    imported only for a torch object or a ``.pt``/``.pth``/``.pt2`` file.

    Every reader of a model or file stores ``|w|`` (after folding BatchNorm and
    constant scales, for the tracer), so a model, its state dict and its weight
    file give one network, and the distribution shuffles resample magnitudes;
    arrays and Networks you build yourself are kept as you give them.

    Parameters
    ----------
    obj : Network, list of 2-D arrays, torch.nn.Module, mapping, str, path-like or scipy.sparse
        The network.
    input_shape : tuple of int, optional
        For tracing a torch module (or a checkpoint's model): one input's shape
        without the batch dimension; by default ``(in_features,)`` of a first
        Linear layer.
    verify : bool or None, default None
        For a torch module: compare the traced routing with the model's autograd
        dependence (see :func:`modcore.network.torch.trace.network_from_module`); None does
        it where it is cheap.
    view : {"virtual"} or None, default None
        For a transformer (:mod:`modcore.network.transformer`), which has two unit graphs:
        ``"virtual"`` reads the residual stream contracted away; it is required for a
        transformer and refused for any other input. ``"blocks"`` gives one network per
        MLP, so it is taken by the functions that return one result per MLP
        (:func:`modcore.network.transformer.takes_view`), not here.

    Returns
    -------
    Network

    Raises
    ------
    TypeError
        If ``obj`` is none of the above (the message lists what is accepted).
    ValueError, FileNotFoundError, ImportError
        As :func:`modcore.weights_from_module`,
        :func:`modcore.network.torch.trace.network_from_module` and :class:`Network`.

    Examples
    --------
    >>> import numpy as np
    >>> as_network([np.ones((2, 3)), np.ones((3, 1))]).sizes
    (2, 3, 1)
    """
    if view is not None and not is_torch_module(obj):
        raise ValueError(f"view={view!r} applies to transformer models, got a {type(obj).__name__}")
    if isinstance(obj, Network):
        return obj
    if _is_sparse(obj):
        return Network.from_adjacency(obj)
    if is_torch_module(obj):
        from .torch.trace import network_from_module
        from .transformer import view_network

        network = view_network(obj, view)  # None for a model without attention
        if network is not None:
            return network
        return network_from_module(obj, input_shape=input_shape, verify=verify)
    if (isinstance(obj, (str, bytes)) or hasattr(obj, "__fspath__")) and Path(
        os.fsdecode(obj)
    ).suffix.lower() == ".pt2":
        return _exported_network(Path(os.fsdecode(obj)), verify)
    if isinstance(obj, (str, bytes)) or hasattr(obj, "__fspath__"):
        model = _checkpoint_model(obj)
        if model is not None:
            from .torch.trace import network_from_module

            # modcore's models record their input shape (a CNN needs it to be traced).
            shape = input_shape if input_shape is not None else model.input_shape
            return network_from_module(model, input_shape=shape, verify=verify)
    if isinstance(obj, (str, bytes)) or hasattr(obj, "__fspath__") or isinstance(obj, Mapping):
        from .weights import weights_from_module

        return Network.from_weights([np.abs(w) for w in weights_from_module(obj)])
    if isinstance(obj, np.ndarray) or is_tensor(obj):
        raise TypeError(
            f"got a single {'numpy array' if isinstance(obj, np.ndarray) else 'tensor'}: "
            "pass a list of weight matrices for a chain, "
            "modcore.Network.from_adjacency(a) for a precomputed graph, or a modcore.Network"
        )
    if not hasattr(obj, "__len__") or not hasattr(obj, "__getitem__"):
        raise TypeError(f"expected a network: {ACCEPTED}; got {type(obj).__name__}")
    return Network.from_weights(obj)


def _exported_network(path: Path, verify, **trace) -> Network:
    """A torch.export program's graph (a ``.pt2`` file), read by the tracer: its input
    shape is the program's own; ``trace``: the tracer's kernel_norm and preset."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"reading {path} needs torch: pip install 'modcore[torch]'") from exc
    from .torch.exported import load_exported, module_from_exported
    from .torch.trace import network_from_module

    module, example = module_from_exported(load_exported(path))
    return network_from_module(module, example_input=example, verify=verify, **trace)


def _checkpoint_model(path):
    """The model a modcore checkpoint file rebuilds, or None for any other file."""
    name = Path(os.fsdecode(path))
    if name.suffix.lower() not in (".pt", ".pth") or not name.is_file():
        return None
    from .torch_files import load_torch_file

    payload = load_torch_file(name)
    if not (isinstance(payload, Mapping) and str(payload.get("format", "")).startswith("modcore-")):
        return None
    from ..nn import checkpoint

    return checkpoint.load(name).model
