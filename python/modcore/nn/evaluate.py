"""A model's accuracy on data, in eval mode."""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch import nn

from ..common.warn import warn_user
from .datasets import Dataset, examples_of
from .models import weight_layers

__all__ = ["evaluate"]


def _old_spelling(func):
    """Keep ``evaluate(model, x, y[, batch_size])`` and ``x=``/``y=`` working for one
    release, with a DeprecationWarning: the data is now one argument, as elsewhere."""

    @functools.wraps(func)
    def wrapper(model, *args, **kwargs):
        if len(args) >= 2 or "x" in kwargs or "y" in kwargs:
            given = dict(zip(("x", "y", "batch_size"), args))
            for name in ("x", "y", "batch_size"):
                if name in kwargs:
                    if name in given:
                        raise TypeError(f"evaluate() got multiple values for argument {name!r}")
                    given[name] = kwargs.pop(name)
            if "x" not in given or "y" not in given or kwargs.keys() - {"batch_size"}:
                raise TypeError("evaluate() takes (model, data, *, batch_size=None)")
            warn_user(
                "evaluate(model, x, y) is deprecated and will be removed in the next "
                "release; use evaluate(model, (x, y)) or evaluate(model, dataset), the same "
                "accuracy",
                DeprecationWarning,
            )
            kwargs.setdefault("batch_size", given.get("batch_size"))
            return func(model, (given["x"], given["y"]), **kwargs)
        return func(model, *args, **kwargs)

    return wrapper


@_old_spelling
@torch.no_grad()
def evaluate(
    model: nn.Module, data: Dataset | tuple[Any, Any], *, batch_size: int | None = None
) -> float:
    """Accuracy of ``model`` on ``data``; leaves it in eval mode.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier: ``(batch, *input_shape)`` inputs to ``(batch, n_classes)`` logits.
    data : Dataset or (x, y)
        A :class:`modcore.nn.Dataset` (its test split is used) or inputs ``(n,
        *input_shape)`` and integer labels ``(n,)``, as :func:`modcore.nn.lesion_study`
        takes them. ``evaluate(model, x, y)``, the old spelling, still works for one
        release and warns (DeprecationWarning).
    batch_size : int, optional
        Examples per forward pass: 4096, or 256 when the model has convolutions
        (whose activations are channels x image size per example).

    Returns
    -------
    float

    Raises
    ------
    TypeError, ValueError
        If ``data`` is neither a Dataset nor an ``(x, y)`` pair of examples (the
        message says what is wrong with them).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Linear(2, 2)
    >>> x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> evaluate(model, (x, model(x).argmax(dim=1)))
    1.0
    """
    x, y = examples_of(data, "data")
    if batch_size is None:
        convolves = any(not isinstance(m, nn.Linear) for m in weight_layers(model))
        batch_size = 256 if convolves else 4096
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    for start in range(0, len(y), batch_size):
        logits = model(x[start : start + batch_size].to(device))
        correct += int((logits.argmax(dim=1) == y[start : start + batch_size].to(device)).sum())
    return correct / len(y)
