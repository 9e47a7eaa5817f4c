"""Transformers: two unit graphs of one model (docs: "Transformers").

The residual stream has no privileged basis (Elhage et al. 2021), so its dims are not
units. ``view="blocks"`` reads each MLP on its own (one network per MLP);
``view="virtual"`` contracts the stream away and joins the units that have a basis
(tokens, positions or input features, MLP neurons, attention heads, logits or
output features) by the size of the maps between them. :mod:`.views` defines both,
:mod:`.read_nn` and :mod:`.read_gpt2` say how each model's weights are read.
"""

from __future__ import annotations

import typing as _typing
from typing import Any

from ..checks import is_torch_module
from ..network import Network
from . import views
from .stream import Transformer

__all__ = ["VIEWS", "Transformer", "block_networks", "read", "view_network", "virtual_network"]

VIEWS = ("blocks", "virtual")


def read(model: Any) -> Transformer:
    """A transformer model as modcore reads it (a :class:`Transformer` is returned as is).

    Raises
    ------
    ValueError
        For a model with attention modcore does not read, or with none.
    """
    if isinstance(model, Transformer):
        return model
    from .intake import READ, read_transformer

    read_model = read_transformer(model) if is_torch_module(model) else None
    if read_model is None:
        raise ValueError(f"{type(model).__name__} is not a transformer; modcore reads {READ}")
    return read_model


def block_networks(model: Any) -> dict:
    """``{MLP name: Network}``, each MLP as ``residual in -> neurons -> residual out``
    with edges ``|W_in|`` and ``|W_out|`` (the blocks view).

    Examples
    --------
    >>> from torch import nn
    >>> import modcore.network.transformer as mt
    >>> nets = mt.block_networks(nn.TransformerEncoderLayer(8, 2, 16))
    >>> nets["linear1"].names, nets["linear1"].sizes
    (('residual in', 'linear1', 'residual out'), (8, 16, 8))
    """
    return views.block_networks(read(model))


def virtual_network(model: Any, *, top_k: int | None = None) -> Network:
    """The virtual graph of a transformer (see :mod:`modcore.network.transformer.views`).

    Parameters
    ----------
    model : torch.nn.Module or Transformer
        A model :func:`read` reads.
    top_k : int or None, default None
        Keep, in each block, the ``top_k`` largest edges of every source unit (ties
        included); None keeps every edge (refused above
        :data:`~modcore.network.transformer.views.MAX_DENSE_EDGES`).

    Returns
    -------
    modcore.Network

    Examples
    --------
    >>> from torch import nn
    >>> import modcore.network.transformer as mt
    >>> net = mt.virtual_network(nn.MultiheadAttention(8, 2))  # input -> 2 heads -> output
    >>> net.names, net.sizes
    (('input', 'heads', 'output'), (8, 2, 8))
    """
    return views.virtual_network(read(model), top_k=top_k)


def check_view(view: Any) -> None:
    if view is not None and view not in VIEWS:
        raise ValueError(f"view must be None or one of {VIEWS}, got {view!r}")


def view_network(model: Any, view: str | None) -> Network | None:
    """The one network of a torch module under ``view`` (the hook of
    :func:`modcore.network.convert.as_network`), None for a model without attention and no
    view (the tracer reads it); ValueError where a view is missing, not needed, or
    gives several networks."""
    check_view(view)
    from .intake import read_transformer

    read_model = read_transformer(model)
    if read_model is None:
        if view is None:
            return None
        raise ValueError(
            f"view={view!r} applies to transformers; {type(model).__name__} has no attention"
        )
    if view is None:
        raise ValueError(
            f"{type(model).__name__} is a transformer, which has two unit graphs in modcore: "
            "pass view='blocks' (each MLP alone) or view='virtual' (the residual stream "
            "contracted away) to spectral_cluster, ncut_significance or ncut_curve, or to any "
            "function a network from modcore.network.transformer.block_networks(model) or "
            "virtual_network(model); docs: Transformers"
        )
    if view == "blocks":
        raise ValueError(
            "view='blocks' gives one network per MLP: use "
            "modcore.network.transformer.block_networks(model), or spectral_cluster / "
            "ncut_significance / ncut_curve with view='blocks'"
        )
    return views.virtual_network(read_model)


def by_block(func: Any, options: dict) -> dict:
    """``{MLP name: func(network, **options)}`` over the blocks view of
    ``options["network"]``: what the public functions return for view='blocks'."""
    options = dict(options)
    model = options.pop("network")
    options.pop("view")
    return {name: func(net, **options) for name, net in block_networks(model).items()}


if not _typing.TYPE_CHECKING:  # its modules as attributes, imported on first use
    from ...common.lazy import submodule_getattr

    __getattr__ = submodule_getattr(__name__)
