"""The papers' models: a ReLU multilayer perceptron (2020) and a small CNN (2021).

Both are ``nn.Sequential`` stacks that record their constructor arguments
(``config``), so a checkpoint can rebuild them, and their ``input_shape``, so
training can check the data before the first batch.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Union

import torch
from torch import nn

from ..common.warn import warn_user

__all__ = ["MLP", "CNN", "DEFAULT_WIDTHS", "weight_layers"]

DEFAULT_WIDTHS = (784, 256, 256, 256, 256, 10)
# Layers whose weight is pruned, penalised and counted in sparsity.
_WEIGHT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
WeightLayer = Union[nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d]


class MLP(nn.Sequential):
    """Linear + ReLU stack, optionally with dropout after each hidden layer.

    Weights are initialised as in Keras' ``Dense`` (Glorot uniform, zero bias),
    which the paper's networks used, so that pruning and clustering start from
    the same kind of network.

    Parameters
    ----------
    widths : sequence of int, default (784, 256, 256, 256, 256, 10)
        Layer sizes from the input to the output; ``len(widths) - 1`` Linear layers.
    dropout : float, default 0.0
        Dropout rate after each hidden layer's ReLU; 0 adds no Dropout module.
    seed : int or None, default None
        Seed of the weight initialisation; None uses torch's global RNG.

    Raises
    ------
    ValueError
        If fewer than two widths are given, a width is not a positive integer,
        or ``dropout`` is outside ``[0, 1)``.

    Examples
    --------
    >>> model = MLP([4, 3, 2], dropout=0.5, seed=0)
    >>> [type(m).__name__ for m in model]
    ['Linear', 'ReLU', 'Dropout', 'Linear']
    >>> model.input_shape, model.config
    ((4,), {'widths': [4, 3, 2], 'dropout': 0.5})
    """

    def __init__(
        self, widths: Sequence[int] = DEFAULT_WIDTHS, dropout: float = 0.0, seed: int | None = None
    ) -> None:
        widths = _positive_ints(widths, "widths")
        if len(widths) < 2:
            raise ValueError(f"widths needs at least an input and an output size, got {widths}")
        dropout = _rate(dropout, "dropout")
        layers: list[nn.Module] = []
        for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(nn.Linear(n_in, n_out))
            if i < len(widths) - 2:
                layers.append(nn.ReLU())
                if dropout > 0:
                    layers.append(nn.Dropout(dropout))
        super().__init__(*layers)
        self.widths = widths
        self.dropout = dropout
        _glorot_init(self, seed)

    @property
    def input_shape(self) -> tuple:
        """Shape of one example: ``(widths[0],)``."""
        return (self.widths[0],)

    @property
    def config(self) -> dict:
        """The constructor's arguments (without ``seed``) as plain values."""
        return {"widths": list(self.widths), "dropout": self.dropout}

    def extra_repr(self) -> str:
        return f"widths={self.widths}, dropout={self.dropout}"


class CNN(nn.Sequential):
    """The small CNN of Filan et al. (2021): 3x3 'same' ReLU convolutions, max-pooling, dense.

    The defaults are the paper's: three convolutions of 64 channels, 2x2
    max-pooling after the second and third, Flatten, a dense layer of 128 ReLU
    units and a dense output layer of 10. With dropout, a Dropout module follows
    each convolution block (after its pooling) at ``conv_dropout`` and each
    hidden dense layer at ``dense_dropout``; the authors' dropout variant used
    0.25 and 0.5 (their ``cnn_config``). Weights are initialised as in Keras
    (Glorot uniform, zero bias), as theirs were.

    Parameters
    ----------
    input_shape : tuple of int, default (1, 28, 28)
        ``(channels, height, width)`` of one image.
    channels : sequence of int, default (64, 64, 64)
        Output channels of each 3x3 convolution.
    pool_after : sequence of bool, default (False, True, True)
        Whether a 2x2 max-pooling (stride 2, no padding) follows each
        convolution; one entry per convolution.
    dense : sequence of int, default (128,)
        Widths of the hidden dense layers after Flatten.
    n_classes : int, default 10
        Outputs of the last dense layer (logits).
    conv_dropout, dense_dropout : float, default 0.0
        Dropout rates; 0 adds no Dropout module.
    seed : int or None, default None
        Seed of the weight initialisation; None uses torch's global RNG.

    Raises
    ------
    ValueError
        If a size is not a positive integer, ``pool_after`` does not match
        ``channels``, the image is too small for its poolings, or a dropout
        rate is outside ``[0, 1)``.

    Examples
    --------
    >>> import torch
    >>> model = CNN(seed=0)
    >>> model(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    >>> [tuple(layer.weight.shape) for layer in weight_layers(model)]
    [(64, 1, 3, 3), (64, 64, 3, 3), (64, 64, 3, 3), (128, 3136), (10, 128)]
    """

    def __init__(
        self,
        input_shape: Sequence[int] = (1, 28, 28),
        *,
        channels: Sequence[int] = (64, 64, 64),
        pool_after: Sequence[bool] = (False, True, True),
        dense: Sequence[int] = (128,),
        n_classes: int = 10,
        conv_dropout: float = 0.0,
        dense_dropout: float = 0.0,
        seed: int | None = None,
    ) -> None:
        input_shape = _positive_ints(input_shape, "input_shape")
        if len(input_shape) != 3:
            raise ValueError(f"input_shape must be (channels, height, width), got {input_shape}")
        channels = _positive_ints(channels, "channels")
        if not channels:
            raise ValueError("channels needs at least one convolution")
        pool_after = tuple(pool_after)
        if len(pool_after) != len(channels) or not all(isinstance(p, bool) for p in pool_after):
            raise ValueError(
                f"pool_after must hold one bool per convolution ({len(channels)}), got {pool_after}"
            )
        dense = _positive_ints(dense, "dense")
        (n_classes,) = _positive_ints([n_classes], "n_classes")
        conv_dropout = _rate(conv_dropout, "conv_dropout")
        dense_dropout = _rate(dense_dropout, "dense_dropout")
        height, width = input_shape[1:]
        layers: list[nn.Module] = []
        n_in = input_shape[0]
        for n_out, pool in zip(channels, pool_after):
            layers += [nn.Conv2d(n_in, n_out, kernel_size=3, padding="same"), nn.ReLU()]
            if pool:
                layers.append(nn.MaxPool2d(2))
                height, width = height // 2, width // 2
                if height < 1 or width < 1:
                    raise ValueError(
                        f"input_shape {input_shape} is too small for {sum(pool_after)} 2x2 poolings"
                    )
            if conv_dropout > 0:
                layers.append(nn.Dropout(conv_dropout))
            n_in = n_out
        layers.append(nn.Flatten())
        n_in = n_in * height * width
        for n_out in dense:
            layers += [nn.Linear(n_in, n_out), nn.ReLU()]
            if dense_dropout > 0:
                layers.append(nn.Dropout(dense_dropout))
            n_in = n_out
        layers.append(nn.Linear(n_in, n_classes))
        super().__init__(*layers)
        self.input_shape = input_shape
        self.channels, self.pool_after, self.dense = channels, pool_after, dense
        self.n_classes = n_classes
        self.conv_dropout, self.dense_dropout = conv_dropout, dense_dropout
        _glorot_init(self, seed)

    @property
    def config(self) -> dict:
        """The constructor's arguments (without ``seed``) as plain values."""
        return {
            "input_shape": list(self.input_shape),
            "channels": list(self.channels),
            "pool_after": list(self.pool_after),
            "dense": list(self.dense),
            "n_classes": self.n_classes,
            "conv_dropout": self.conv_dropout,
            "dense_dropout": self.dense_dropout,
        }

    def extra_repr(self) -> str:
        return ", ".join(f"{key}={value}" for key, value in self.config.items())


def linear_layers(model: nn.Module) -> list[nn.Linear]:
    """Deprecated: the ``nn.Linear`` submodules of ``model``; use :func:`weight_layers`.

    modcore no longer uses it (its readers trace the model); :func:`weight_layers` gives the
    Linear and Conv layers, in registration order.
    """
    warn_user(
        "modcore.nn.linear_layers is deprecated; use modcore.nn.weight_layers (Linear and "
        "Conv layers), or [m for m in model.modules() if isinstance(m, torch.nn.Linear)]",
        DeprecationWarning,
    )
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def weight_layers(model: nn.Module) -> list[WeightLayer]:
    """Return the Linear and Conv (1-D, 2-D, 3-D) submodules of ``model`` in registration order.

    These are the layers whose weights are pruned, penalised by ``l1`` / ``l2``
    and counted in sparsity; biases never are.

    Examples
    --------
    >>> [type(m).__name__ for m in weight_layers(CNN(channels=(4,), pool_after=(True,)))]
    ['Conv2d', 'Linear', 'Linear']
    """
    return [m for m in model.modules() if isinstance(m, _WEIGHT_LAYERS)]


def _glorot_init(model: nn.Module, seed) -> None:
    """Keras' defaults: Glorot uniform weights (fans include the kernel size), zero biases."""
    generator = None if seed is None else torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in weight_layers(model):
            nn.init.xavier_uniform_(layer.weight, generator=generator)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


def _positive_ints(values, name: str) -> tuple:
    values = tuple(values)
    for v in values:
        if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name} must be positive integers, got {values}")
    return tuple(int(v) for v in values)


def _rate(value, name: str) -> float:
    if (
        not isinstance(value, numbers.Real)
        or isinstance(value, bool)
        or not 0.0 <= float(value) < 1.0
    ):
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return float(value)
