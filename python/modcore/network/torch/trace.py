"""From a torch model to modcore's unit graph, by tracing its dataflow (torch.fx).

The one reader of torch modules: every entry point that takes an ``nn.Module``
comes here. Units are the input's features (or channels) and the output units (or
channels) of every Linear and convolution call; each call is one group, named by
the module's qualified name. The walk (:mod:`modcore.network.torch.trace_walk`) follows each
tensor computed from the input: for every channel (dim 1), which unit of which
earlier group it carries and with what gain, reading each op from its own
arguments (docs: "Reading torch models" lists the ops and what is refused). A
layer that reads the tensor gets one edge block from each group it carries. The
graph is then checked against the model's autograd dependence
(:mod:`modcore.network.torch.verify`), which shares no code with the walk.

How a weight becomes an edge (``|w|`` throughout; paths are summed by absolute
value):

- Linear: ``|W[u, f]|`` from input feature ``f`` to output unit ``u``.
- Convolution: a norm of the kernel slice ``W[j, i]`` between input channel
  ``i`` and output channel ``j`` (``kernel_norm``); grouped and depthwise
  convolutions join only the channels of the same group (a sparse block).
- Flatten from ``(N, C, *spatial)`` to ``(N, C * prod(spatial))`` is channel-major,
  so feature ``f`` belongs to channel ``f // prod(spatial)``; a Linear after it
  joins channel ``c`` to unit ``u`` with the sum of ``|W[u, f]|`` over the
  channel's positions (padded positions, which hold constants, carry no unit).
- BatchNorm directly after a Linear or convolution whose output nothing else
  reads is folded into that layer's weights, ``W[j] *= gamma_j / sqrt(var_j + eps)``,
  as ``torch.nn.utils.fusion.fuse_conv_bn_eval`` does. Any other BatchNorm (after
  an add, before a convolution in a pre-activation net) scales the features it
  reads, so its scale lands on the input side of the layers that consume it. Both
  keep the function of the eval-mode network; the shift only moves biases, which
  the graph ignores.
- Activations pass a unit with gain 1; multiplying or dividing by a scalar scales
  the path; adding a constant (a bias) changes nothing; pooling within a channel
  keeps it (gain 1), pooling over the features of a ``(batch, features)`` tensor
  is a window with the pool's weights.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import numbers
from collections import OrderedDict

import numpy as np
import torch
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from ..network import Network
from . import KERNEL_NORMS, PRESETS
from .trace_walk import LAYERS, GraphWalk, describe
from .verify import verify_routing

__all__ = ["KERNEL_NORMS", "PRESETS", "network_from_module"]


def network_from_module(
    model,
    *,
    input_shape=None,
    example_input=None,
    kernel_norm: str = "l1",
    include_input: bool = True,
    include_dense: bool = True,
    preset: str | None = None,
    verify: bool | None = None,
) -> Network:
    """The unit graph of a torch model, read by tracing its forward pass.

    The model is traced with ``torch.fx.symbolic_trace`` and run once on a zeros
    batch (or ``example_input``) by ``torch.fx.passes.shape_prop.ShapeProp``, in
    eval mode under ``torch.no_grad``; every module's training flag is restored
    afterwards. No data are needed.

    Parameters
    ----------
    model : torch.nn.Module
        A model with one input tensor. Its forward must be traceable by torch.fx
        (no control flow on tensor values). Modules pruned with
        ``torch.nn.utils.prune`` give their masked weights.
    input_shape : sequence of int, default None
        The input's shape without the batch dimension, e.g. ``(3, 32, 32)``. The
        shapes are propagated from a zeros batch of two (two, so that a
        ``squeeze()`` or ``view(1, -1)`` cannot be mistaken for a batch of one).
        May be omitted when the model's first layer is a Linear: then it is
        ``(in_features,)``.
    example_input : torch.Tensor, default None
        A batch to propagate instead (batch dimension first; with a batch of one,
        a ``squeeze()`` drops it); give this or ``input_shape``, not both.
    kernel_norm : {"l1", "l2", "max_column"}, default "l1"
        The edge between input channel ``i`` and output channel ``j`` of a
        convolution, from the kernel slice ``w = W[j, i]``: ``"l1"`` is
        ``sum(|w|)``, ``"l2"`` the Frobenius norm, ``"max_column"`` the largest
        column sum of ``|w|`` (summed over the kernel's height axis, the
        second-to-last, then the maximum over the others; a 1-D kernel's sum),
        which is what the 2021 paper's code computed (``np.linalg.norm(w, 1)`` of
        the ``(height, width)`` slice). Linear layers always give ``|W|``. It
        reduces weights; ``map_norm`` (:func:`modcore.nn.activations`) reduces a
        channel's activations, with the same value names where they agree (the
        user guide's "Conv channels as units").
    include_input : bool, default True
        Keep the input's features/channels as a group (named ``"input"``).
    include_dense : bool, default True
        Keep the Linear layers' units as groups.
    preset : {"paper_cnn"} or None, default None
        ``"paper_cnn"`` keeps only the convolution channels, as the 2021 paper's
        CNN runs did (it sets ``include_input=False, include_dense=False``).
    verify : bool or None, default None
        Check the graph against the model itself (:mod:`modcore.network.torch.verify`): for
        every Linear or convolution call, which units of the earlier groups each
        of its input channels depends on, by autograd on random inputs, must be
        what the routing declares. None runs the check where it costs less than
        clustering the graph (about 1e8 tensor elements computed; above that it
        warns with :class:`modcore.network.torch.verify.VerificationSkipped`), True always,
        False never.

    Returns
    -------
    modcore.Network
        Groups in order of computation: ``"input"`` (the entries of the input's
        dim 1 after the batch: an image's channels, a vector's features, so an
        MLP on flattened images has pixel units with ``input_shape=(784,)`` and
        one unit per colour channel with ``(1, 28, 28)``), then one per Linear or
        convolution call, named by the module's qualified name (``"features.3"``,
        ``"layer1.0.conv2"``); a module called again gets a group of its own,
        ``"fc#2"``, since each call computes different units (weight tying is
        not merged). Blocks hold the non-negative edge weights; dropped groups
        take their blocks with them.

    Raises
    ------
    TypeError
        If ``model`` is not a torch module, or an option has the wrong type.
    ValueError
        If torch.fx cannot trace the model (data-dependent control flow; the
        message gives fx's reason), the model fails on the given input, a traced
        node is an op modcore cannot read exactly (attention, matmul, einsum, a
        Linear on a conv tensor, a softmax over channels, an in-place write
        through a view, ...; the message names the node, its op and why), the
        check against the model finds a dependence the routing does not declare
        or the reverse (the message names the layer and the ops before it), an
        option is unknown, or no group is left.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from modcore.network.torch.trace import network_from_module
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 4 * 4, 10))
    >>> network_from_module(model, input_shape=(3, 6, 6))
    Network(groups=[input: 3, 0: 8, 3: 10], blocks=[input -> 0: 24 edges, 0 -> 3: 80 edges])
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if kernel_norm not in KERNEL_NORMS:
        raise ValueError(f"kernel_norm must be one of {KERNEL_NORMS}, got {kernel_norm!r}")
    for name, flag in (("include_input", include_input), ("include_dense", include_dense)):
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"{name} must be a bool, got {type(flag).__name__}")
    if preset is not None:
        if preset not in PRESETS:
            raise ValueError(f"preset must be None or one of {sorted(PRESETS)}, got {preset!r}")
        include_input = PRESETS[preset]["include_input"]
        include_dense = PRESETS[preset]["include_dense"]
    if input_shape is not None and example_input is not None:
        raise ValueError("give input_shape or example_input, not both")
    if verify is not None and not isinstance(verify, (bool, np.bool_)):
        raise TypeError(f"verify must be None or a bool, got {type(verify).__name__}")

    # A bare layer is traced through its functional form; a container keeps it a module.
    if isinstance(model, LAYERS):
        model = nn.Sequential(OrderedDict([(type(model).__name__.lower(), model)]))
    training = [(m, m.training) for m in model.modules()]
    try:
        model.eval()  # before tracing: a forward may branch on self.training
        gm = _symbolic_trace(model)
        example = _example_input(gm, model, input_shape, example_input)
        constants = _propagate(gm, model, example)
        walk = GraphWalk(gm, kernel_norm, constants)
        walk.run()
        del constants
        if verify is not False:
            verify_routing(
                gm,
                example,
                walk.sources,
                walk.reads,
                [g[0] for g in walk.groups],
                force=verify is True,
                describe=describe,
            )
    finally:
        for module, flag in training:
            module.training = flag
    drop = set()
    if not include_input:
        drop.add("input")
    if not include_dense:
        drop.add("dense")
    return walk.network(drop)


# -- tracing and shapes ---------------------------------------------------------------


def _symbolic_trace(model) -> fx.GraphModule:
    # Extra forward arguments with defaults (flags such as return_features) are
    # fixed at their defaults, so the forward has one tensor input.
    params = list(inspect.signature(model.forward).parameters.values())
    plain = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if not plain:
        raise ValueError(
            f"{type(model).__name__}.forward{inspect.signature(model.forward)} "
            "has no named positional argument for the input tensor"
        )
    extra = [p for p in plain[1:] if p.default is p.empty]
    if extra:
        raise ValueError(
            f"{type(model).__name__}.forward needs more than one input "
            f"({[p.name for p in plain]}); modcore traces models with one input "
            "tensor"
        )
    concrete = {p.name: p.default for p in plain[1:]}
    try:
        return fx.symbolic_trace(model, concrete_args=concrete or None)
    # fx raises TraceError, TypeError, RuntimeError, NotImplementedError ... depending
    # on where the forward stops being traceable; all mean "cannot trace".
    except fx.proxy.TraceError as exc:
        raise ValueError(
            f"torch.fx cannot trace {type(model).__name__}: its forward has data-dependent "
            f"control flow (an `if` or loop on tensor values: {exc}). modcore reads one graph "
            "for all inputs and does not guess which branch a model takes: move the branch out "
            "of the forward or into a leaf module"
        ) from exc
    except Exception as exc:
        raise ValueError(
            f"torch.fx cannot trace {type(model).__name__}: {type(exc).__name__}: {exc}. "
            "Tracing needs a forward whose control flow does not depend on tensor values "
            "(no `if x.sum() > 0`, no loops over a tensor's entries); move such logic out of "
            "the forward or into a leaf module"
        ) from exc


def _example_input(gm, model, input_shape, example_input) -> torch.Tensor:
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    if example_input is not None:
        if not isinstance(example_input, torch.Tensor):
            raise TypeError(
                f"example_input must be a torch.Tensor, got {type(example_input).__name__}"
            )
        if example_input.dim() < 2:
            raise ValueError(
                f"example_input must have a batch dim and a feature dim, got "
                f"shape {tuple(example_input.shape)}"
            )
        return example_input
    if input_shape is None:
        first = next(
            (
                gm.get_submodule(n.target)
                for n in gm.graph.nodes
                if n.op == "call_module" and isinstance(gm.get_submodule(n.target), LAYERS)
            ),
            None,
        )
        if not isinstance(first, nn.Linear):
            found = (
                "no Linear or Conv layer" if first is None else f"a {type(first).__name__} first"
            )
            raise ValueError(
                f"input_shape is needed (the input's shape without the batch dim, "
                f"e.g. (3, 32, 32)): the model has {found}"
            )
        input_shape = (first.in_features,)
    return torch.zeros((2, *check_input_shape(input_shape)), device=device, dtype=dtype)


def check_input_shape(input_shape) -> tuple[int, ...]:
    """``input_shape`` (one input's shape without the batch dim) as a tuple of ints, or a
    TypeError / ValueError saying what was expected."""
    if (
        isinstance(input_shape, (str, bytes))
        or not hasattr(input_shape, "__len__")
        or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in input_shape)
    ):
        raise TypeError(
            f"input_shape must be a tuple of ints without the batch dim, "
            f"e.g. (3, 32, 32), got {input_shape!r}"
        )
    if len(input_shape) == 0 or min(input_shape) < 1:
        raise ValueError(
            f"input_shape must be non-empty with positive sizes, got {tuple(input_shape)}"
        )
    return tuple(int(s) for s in input_shape)


class _ShapeAndScalars(ShapeProp):
    """ShapeProp that also keeps the value of every scalar a node computes (a
    python number or a one-element tensor), for scaling by such values."""

    def run_node(self, n):
        self.current = n
        result = super().run_node(n)
        value = (
            result.item() if isinstance(result, torch.Tensor) and result.numel() == 1 else result
        )
        if isinstance(value, numbers.Real):
            n.meta["modcore_scalar"] = float(value)
        return result


def _propagate(gm, model, example) -> dict:
    """Shapes into each node's meta; returns every node's value (for the constant
    arguments of the ops the walk reads)."""
    prop = _ShapeAndScalars(gm)
    prop.garbage_collect_values = False
    # fx's own error report imports torch._dynamo (seconds); ours names the node.
    prop.extra_traceback = False
    try:
        # ShapeProp prints a traceback before re-raising; the ValueError below says it.
        with torch.no_grad(), contextlib.redirect_stderr(io.StringIO()):
            prop.propagate(example)
    except Exception as exc:
        cause = exc.__cause__ or exc
        node = getattr(prop, "current", None)
        where = f" at node {node.name!r} ({describe(node, gm)})" if node is not None else ""
        raise ValueError(
            f"running {type(model).__name__} on an input of shape {tuple(example.shape)} "
            f"failed{where}: {type(cause).__name__}: {cause}. Check input_shape (no batch dim)"
        ) from exc
    return prop.env
