"""Transformers: two unit graphs of one model (docs: "Transformers").

The residual stream has no privileged basis (Elhage et al. 2021), so its dims are not
units. ``view="blocks"`` reads each MLP on its own (one network per MLP);
``view="virtual"`` contracts the stream away and joins the units that have a basis
(tokens, positions or input features, MLP neurons, attention heads, logits or
output features) by the size of the maps between them. :mod:`.views` defines both,
:mod:`.read_nn` and :mod:`.read_gpt2` say how each model's weights are read.
"""

from __future__ import annotations

import functools
import inspect
import os
import typing as _typing
from collections.abc import Callable
from typing import Any, Literal, ParamSpec, Protocol, TypeVar, overload

from ...common.types import NetworkLike
from ..checks import is_torch_module
from ..network import Network
from . import views
from .stream import Transformer

P = ParamSpec("P")
R = TypeVar("R")

__all__ = [
    "VIEWS",
    "Transformer",
    "block_networks",
    "read",
    "takes_view",
    "view_network",
    "virtual_network",
]

VIEWS = ("blocks", "virtual")


def read(model: Any) -> Transformer:
    """A transformer model as modcore reads it (a :class:`Transformer` is returned as is;
    a path to a folder is a Hugging Face GPT-2 saved by ``save_pretrained``, read by
    :func:`~modcore.network.transformer.read_gpt2.load_gpt2`).

    Raises
    ------
    ValueError
        For a model with attention modcore does not read, or with none.
    """
    if isinstance(model, Transformer):
        return model
    if isinstance(model, (str, os.PathLike)):
        if not os.path.isdir(model):
            raise ValueError(
                f"{os.fsdecode(model)} is not a folder: a transformer is read from a model, "
                "or from a Hugging Face GPT-2 folder (save_pretrained: config.json, "
                "model.safetensors)"
            )
        from .read_gpt2 import load_gpt2

        model = load_gpt2(model)
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
            "contracted away) to spectral_cluster, ncut_significance, ncut_curve, eigengap, "
            "stability, sweep or nn.lesion_study, or give any function a network from "
            "modcore.network.transformer.block_networks(model) or virtual_network(model); "
            "docs: Transformers"
        )
    if view == "blocks":
        raise ValueError(
            "view='blocks' gives one network per MLP: use "
            "modcore.network.transformer.block_networks(model), or spectral_cluster, "
            "ncut_significance, ncut_curve, eigengap, stability or sweep with view='blocks'"
        )
    return views.virtual_network(read_model)


class Viewed(Protocol[P, R]):
    """A public function under :func:`takes_view`: ``view="blocks"`` gives ``{MLP name:
    result}``, any other call the function's own result."""

    @overload
    def __call__(
        self, network: NetworkLike, *, view: Literal["blocks"], **options: Any
    ) -> dict[str, R]: ...

    @overload
    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R: ...


def takes_view(func: Callable[P, R]) -> Viewed[P, R]:
    """Give ``func`` the blocks view: ``func(model, view="blocks", **options)`` is
    ``{MLP name: func(network, **options)}`` over :func:`block_networks` ``(model)``.

    ``func`` takes the network first and a keyword ``view``, which it hands to
    :func:`modcore.network.convert.as_network` (the one network of ``view="virtual"``,
    or the refusals); every other call goes to it unchanged.
    """
    signature = inspect.signature(func)
    first = next(iter(signature.parameters))

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("view") != "blocks":
            return func(*args, **kwargs)
        try:
            options = signature.bind(*args, **kwargs).arguments
        except TypeError:  # the function's own message
            return func(*args, **kwargs)
        model = options.pop(first)
        options["view"] = None
        return {name: func(net, **options) for name, net in block_networks(model).items()}

    return wrapper


if not _typing.TYPE_CHECKING:  # its modules as attributes, imported on first use
    from ...common.lazy import submodule_getattr

    __getattr__ = submodule_getattr(__name__)
