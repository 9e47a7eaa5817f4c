"""The paper's model: a plain ReLU multilayer perceptron."""

from __future__ import annotations

import numbers

import torch
from torch import nn

__all__ = ["MLP", "DEFAULT_WIDTHS", "linear_layers"]

DEFAULT_WIDTHS = (784, 256, 256, 256, 256, 10)


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
    """

    def __init__(self, widths=DEFAULT_WIDTHS, dropout: float = 0.0, seed: int | None = None):
        widths = tuple(widths)
        if len(widths) < 2:
            raise ValueError(f"widths needs at least an input and an output size, got {widths}")
        for w in widths:
            if not isinstance(w, numbers.Integral) or isinstance(w, bool) or w < 1:
                raise ValueError(f"widths must be positive integers, got {widths}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        layers: list[nn.Module] = []
        for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(nn.Linear(int(n_in), int(n_out)))
            if i < len(widths) - 2:
                layers.append(nn.ReLU())
                if dropout > 0:
                    layers.append(nn.Dropout(dropout))
        super().__init__(*layers)
        self.widths = tuple(int(w) for w in widths)
        self.dropout = float(dropout)
        generator = None if seed is None else torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for layer in linear_layers(self):
                nn.init.xavier_uniform_(layer.weight, generator=generator)
                nn.init.zeros_(layer.bias)

    def extra_repr(self) -> str:
        return f"widths={self.widths}, dropout={self.dropout}"


def linear_layers(model: nn.Module) -> list[nn.Linear]:
    """Return the ``nn.Linear`` submodules of ``model`` in registration order.

    Registration order is the order of computation for ``nn.Sequential`` and
    :class:`MLP`, which is what pruning and the weight hand-off rely on.
    """
    return [m for m in model.modules() if isinstance(m, nn.Linear)]
