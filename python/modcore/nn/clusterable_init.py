"""Clusterable initialization (Filan, Casper, Hod et al. 2021, "Clusterability in
Neural Networks"): weights within planted modules scaled up, the others down."""

from __future__ import annotations

import numbers

import numpy as np
import torch
from torch import nn

from ..common.types import SeedLike
from ..network.checks import check_seed
from .models import weight_layers

__all__ = ["clusterable_init"]

# The authors' factors for weights between modules (create_model in
# dfilan/clusterability_in_neural_networks, src/train_nn.py).
_DOWN_WEIGHT = {"mlp": 0.6, "cnn": 0.8}


@torch.no_grad()
def clusterable_init(
    model: nn.Module,
    n_modules: int,
    *,
    seed: SeedLike = None,
    input_shape: tuple | None = None,
) -> list[np.ndarray]:
    """Scale ``model``'s weights in place so that it starts out clusterable.

    The rule of the 2021 paper's code (dfilan/clusterability_in_neural_networks,
    ``src/train_nn.py``, ``create_model(..., init_modules)``): every unit gets a
    module drawn uniformly from ``n_modules``; each weight joining two units of
    one module is multiplied by ``1 + (1 - down) * (n_modules - 1)`` and every
    other weight by ``down``, so a unit's multipliers average 1 over random
    modules.

    - A network of Linear layers only (an MLP): ``down = 0.6``; the modules of
      the inputs, of every hidden layer and of the outputs are drawn, except that
      with at most ``n_modules`` outputs output ``i`` is in module ``i``. The
      first layer is left as it is ("the pixels aren't always the same").
    - A network with convolutions (a CNN): ``down = 0.8``; modules are drawn for
      the output channels of each convolution, and every convolution after the
      first has its kernel slices ``W[j, i]`` scaled; Linear layers are left as
      they are.

    The layers are taken in registration order; the model is traced once
    (:func:`modcore.nn.trace.network_from_module`) to check that each scaled
    layer reads exactly the previous one's units, and is refused otherwise.

    Parameters
    ----------
    model : torch.nn.Module
        An MLP (Linear layers only) or a CNN (convolutions, then any Linear
        layers), already initialised (e.g. :class:`~modcore.nn.MLP`,
        :class:`~modcore.nn.CNN`).
    n_modules : int
        Planted modules, >= 2 (the authors used 10), and at most the units of every
        layer the rule partitions (each hidden layer of an MLP, each convolution of
        a CNN), so that every module can have units in each.
    seed : None, int or numpy.random.Generator, default None
        Seed of the module draws.
    input_shape : tuple of int, optional
        One input's shape without the batch dimension, for the trace; by
        default ``model.input_shape`` where the model has one.

    Returns
    -------
    list of numpy.ndarray
        The planted module of every unit: for an MLP one array per unit layer
        (inputs, hidden layers, outputs); for a CNN one per convolution (its
        output channels).

    Raises
    ------
    ValueError
        If ``n_modules`` < 2 or exceeds the units of a layer the rule partitions,
        the model has neither Linear nor convolution layers or only one (the rule
        leaves the first as it is), a convolution is grouped, or a layer to scale
        does not read the previous layer's units alone (checked last: it traces
        the model).

    Examples
    --------
    >>> from modcore.nn import MLP
    >>> model = MLP([8, 6, 6, 4], seed=0)
    >>> [m.shape for m in clusterable_init(model, 3, seed=0)]
    [(8,), (6,), (6,), (4,)]
    """
    if not isinstance(n_modules, numbers.Integral) or isinstance(n_modules, bool):
        raise TypeError(f"n_modules must be an int, got {type(n_modules).__name__}")
    if n_modules < 2:
        raise ValueError(f"n_modules must be >= 2, got {n_modules}")
    rng = np.random.default_rng(check_seed(seed))
    layers = weight_layers(model)
    convs = [layer for layer in layers if not isinstance(layer, nn.Linear)]
    if not layers:
        raise ValueError(f"{type(model).__name__} has no Linear or Conv layer to initialise")
    kind = "cnn" if convs else "mlp"
    chain = convs if convs else layers
    for layer in convs:
        if layer.groups != 1:
            raise ValueError(
                f"clusterable_init: a grouped convolution ({layer}) has no module rule"
            )
    _check_room(n_modules, chain, kind)
    _check_chain(model, chain, input_shape)
    if kind == "mlp":
        widths = [chain[0].in_features] + [layer.out_features for layer in chain]
        assign = [rng.integers(0, n_modules, size=w) for w in widths[:-1]]
        n_out = widths[-1]
        assign.append(np.arange(n_out) if n_out <= n_modules else rng.integers(0, n_modules, n_out))
        pairs = [(assign[i], assign[i + 1]) for i in range(1, len(chain))]
    else:
        assign = [rng.integers(0, n_modules, size=layer.out_channels) for layer in chain]
        pairs = [(assign[i - 1], assign[i]) for i in range(1, len(chain))]
    down = _DOWN_WEIGHT[kind]
    up = 1 + (1 - down) * (n_modules - 1)
    for layer, (src, dst) in zip(chain[1:], pairs):
        same = torch.from_numpy(dst[:, None] == src[None, :])  # (out, in), as the weight
        factor = torch.where(same, up, down).to(layer.weight.dtype).to(layer.weight.device)
        layer.weight.mul_(factor.reshape(factor.shape + (1,) * (layer.weight.ndim - 2)))
    return [a.astype(np.int64) for a in assign]


def _check_room(n_modules, chain, kind) -> None:
    """Refuse ``n_modules`` that the layers the rule partitions cannot all hold: an MLP's
    hidden layers (its outputs have their own rule), a CNN's convolutions."""
    if len(chain) < 2:
        one = "convolution" if kind == "cnn" else "Linear layer"
        raise ValueError(
            f"clusterable_init: the model has one {one}, and the rule leaves the first as it "
            "is: nothing would be scaled"
        )
    if kind == "mlp":
        check_n_modules(n_modules, [layer.out_features for layer in chain[:-1]])
    else:
        check_n_modules(n_modules, [layer.out_channels for layer in chain], "convolution")


def check_n_modules(n_modules: int, sizes, layer: str = "hidden layer") -> None:
    """Refuse ``n_modules`` that the layers the rule partitions, of ``sizes`` units (an
    MLP's hidden layers, a CNN's convolutions), cannot all hold; checkable before the
    model is built."""
    unit = "channels" if layer == "convolution" else "units"
    i, smallest = min(enumerate(sizes, 1), key=lambda item: item[1])
    if n_modules > smallest:
        raise ValueError(
            f"n_modules={n_modules} cannot be planted: {layer} {i} has {smallest} {unit}, and "
            f"each module needs {unit} in every layer the rule partitions (at most {smallest})"
        )


def _check_chain(model, chain, input_shape) -> None:
    """Refuse unless each layer of ``chain`` after the first reads the previous one's
    output units alone, one to one, as the model's traced graph says."""
    from ..network.torch.trace import network_from_module

    if input_shape is None:
        input_shape = getattr(model, "input_shape", None)
    net = network_from_module(model, input_shape=input_shape)
    names = {id(module): name for name, module in model.named_modules()}
    group = {name: i for i, name in enumerate(net.names)}
    for before, layer in zip(chain, chain[1:]):
        name, previous = names[id(layer)], names[id(before)]
        feeding = [b for b in net.blocks if b.dst == group.get(name)]
        n_in = layer.weight.shape[1]
        if (
            len(feeding) != 1
            or feeding[0].src != group.get(previous)
            or feeding[0].shape != (n_in, layer.weight.shape[0])
        ):
            raise ValueError(
                f"clusterable_init: layer {name!r} does not read the units of {previous!r} "
                "alone and one to one (the rule scales a chain of layers)"
            )
