"""A transformer as modcore reads it: groups of units placed along the residual stream.

Every reader (:mod:`.read_nn`, :mod:`.read_gpt2`) turns a model into a
:class:`Transformer`; the views (:mod:`.views`) build graphs from it alone. The
residual stream is a sum of writes; a group of units reads the stream as it is at
its place and writes back after reading (units of one group do not see each
other's writes). Only weights are kept (numpy, float64); biases, LayerNorm shifts
and the attention pattern are left out (see :func:`layernorm_read`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Heads", "Mlp", "StreamMap", "Transformer", "Units", "layernorm_read", "weight_array"]


@dataclass(frozen=True)
class Units:
    """Units with a privileged basis: tokens, positions, input features (write only),
    MLP neurons (read and write), logits or output features (read only).

    ``read`` is ``(d_model, n)``: unit j's pre-activation is ``x @ read[:, j]`` for the
    stream state ``x`` (a row vector); ``write`` is ``(n, d_model)``: unit i adds
    ``a_i * write[i]`` to the stream.
    """

    name: str
    read: np.ndarray | None = None
    write: np.ndarray | None = None

    @property
    def size(self) -> int:
        if self.read is not None:
            return int(self.read.shape[1])
        assert self.write is not None  # a reader gives every group a read or a write
        return int(self.write.shape[0])


@dataclass(frozen=True)
class Heads:
    """The attention heads of one attention layer, one unit each.

    Head h moves ``x @ read[h] @ write[h]`` (its OV circuit, ``(d_model, d_model)``) from
    the positions it attends to; ``read`` is ``(n_heads, d_model, d_head)`` (W_V, with
    the LayerNorm before it folded in) and ``write`` ``(n_heads, d_head, d_model)`` (W_O).
    ``residual=False`` for a bare attention layer: its output is its heads' writes
    alone (the stream it read does not pass on).
    """

    name: str
    read: np.ndarray
    write: np.ndarray
    residual: bool = True

    @property
    def size(self) -> int:
        return int(self.read.shape[0])


@dataclass(frozen=True)
class StreamMap:
    """A map of the whole stream, ``x -> x @ matrix``: a LayerNorm applied to the
    stream itself (post-LN layers), :func:`layernorm_read` of its gain."""

    matrix: np.ndarray


@dataclass(frozen=True)
class Mlp:
    """One MLP as it is, for the blocks view: ``w_in`` ``(d_model, n)``, ``w_out``
    ``(n, d_model)``, both as the layer applies them to row vectors."""

    name: str
    w_in: np.ndarray
    w_out: np.ndarray


@dataclass(frozen=True)
class Transformer:
    """A model read: ``steps`` in order of computation, the MLPs for the blocks view,
    and, where the virtual view cannot be built (cross-attention), why not."""

    kind: str
    d_model: int
    steps: tuple
    mlps: tuple
    virtual_refusal: str | None = None


def layernorm_read(gain: np.ndarray | None, d_model: int, *, centred: bool = True) -> np.ndarray:
    """``C @ diag(gain)``, the LayerNorm as a linear map of the stream.

    ``LayerNorm(x) = gain * (x - mean(x)) / std(x) + shift = x @ C @ diag(gain) /
    std(x) + shift`` with the centring ``C = I - 11ᵀ/d``. The graph keeps
    ``C @ diag(gain)``: exact up to ``1 / std(x)``, a positive number per position
    that scales every unit alike (so it is taken as 1), and the shift, a bias. An
    RMSNorm does not centre (``centred=False``: ``C = I``).
    """
    centre = np.eye(d_model)
    if centred:
        centre -= np.full((d_model, d_model), 1.0 / d_model)
    if gain is None:  # no learned gain (elementwise_affine=False, a folded "LNPre")
        return centre
    return centre * np.asarray(gain, dtype=np.float64)[None, :]


def weight_array(tensor) -> np.ndarray:
    """A torch parameter as a float64 numpy array (a copy)."""
    return tensor.detach().to("cpu").double().numpy()
