"""How units travel through a tensor: the values of the tracer's walk.

A tensor computed from the model's input is a :class:`Flow`: for every channel
(the entries of dim 1, the same at every position), which unit of which group it
carries and with what scale, as one or more :class:`Piece`. An op that only moves
entries (reshape, permute, flip, pad, indexing with constant indices ...) is
routed exactly by running the op itself, with its own arguments, on a tensor of
entry numbers (:func:`index_of`): the result says where every output entry comes
from. Such results stay :class:`Gathered` (entry numbers into a channel-level
flow) until an op needs channels again, when :meth:`Gathered.channels` maps each
output channel to the one input channel all its entries come from, or refuses.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

__all__ = ["Flow", "Gathered", "Piece", "index_of", "window_pieces"]


@dataclass(frozen=True)
class Piece:
    """Channel ``c`` carries unit ``units[c]`` of ``group`` times ``scale[c]``
    (``units[c] == -1``: nothing from this group)."""

    group: int
    units: torch.Tensor
    scale: torch.Tensor

    def take(self, index: torch.Tensor) -> Piece:
        """Channel ``c`` of the result is channel ``index[c]`` (``-1``: nothing)."""
        safe = index.clamp(min=0)
        live = index >= 0
        units = torch.where(live, self.units[safe], torch.full_like(index, -1))
        scale = torch.where(live, self.scale[safe], torch.zeros((), dtype=torch.float64))
        return Piece(self.group, units, scale)

    def scaled(self, factor) -> Piece:
        return Piece(self.group, self.units, self.scale * factor)


@dataclass(frozen=True)
class Flow:
    """A tensor computed from the input, read per channel: its pieces and its shape.

    ``live`` (one sample's shape, or None: all) is False at the entries that hold a
    constant (padding), which carry no unit although their channel does.
    """

    pieces: tuple
    shape: tuple
    live: torch.Tensor | None = None

    def scaled(self, factor, shape=None) -> Flow:
        pieces = tuple(p.scaled(factor) for p in self.pieces)
        return Flow(pieces, shape or self.shape, self.live)

    def reshaped(self, shape, live=None) -> Flow:
        """The same pieces for a tensor of ``shape`` whose live entries are ``live``."""
        if live is not None and bool(live.all()):
            live = None
        return replace(self, shape=tuple(shape), live=live)

    def take(self, index, shape) -> Flow:
        return Flow(tuple(p.take(index) for p in self.pieces), shape)

    def live_channels(self) -> Flow:
        """The flow with no unit in a channel none of whose entries is live."""
        if self.live is None:
            return self
        alive = self.live.reshape(self.shape[1], -1).any(1)
        if bool(alive.all()):
            return self
        index = torch.where(alive, torch.arange(self.shape[1]), -1)
        return Flow(tuple(p.take(index) for p in self.pieces), self.shape, self.live)


@dataclass(frozen=True)
class Gathered:
    """A tensor whose entries are entries of ``base``: ``index`` has the tensor's
    shape and holds ``1 + `` the flat position in ``base`` of each entry's source
    (``0``: a constant, e.g. padding)."""

    base: Flow
    index: torch.Tensor
    ops: tuple = ()  # the ops that moved the entries (names, for messages)

    @property
    def shape(self) -> tuple:
        return tuple(self.index.shape)

    def scaled(self, factor, shape=None) -> Gathered:
        return Gathered(self.base.scaled(factor), self.index, self.ops)

    def channels(self) -> Flow:
        """The channel-level flow, or ValueError (without the node: the caller adds it)."""
        shape = self.shape
        base = self.base.shape
        if len(shape) < 2:
            raise ValueError(
                f"leaves a {len(shape)}-D tensor of shape {shape}, with no channel dim after "
                "the batch dim"
            )
        if shape[0] != base[0]:
            raise ValueError(f"changes the batch dim ({base} -> {shape})")
        src = self.index.to(torch.int64).reshape(shape[0], shape[1], -1) - 1
        per_sample = int(torch.tensor(base[1:]).prod()) if len(base) > 1 else 1
        live = src >= 0
        if self.base.live is not None:  # an entry copied from a constant is a constant
            live &= self.base.live.flatten()[src.clamp(min=0) % per_sample]
        per_channel = per_sample // base[1]
        sample = torch.div(src, per_sample, rounding_mode="floor")
        own = torch.arange(shape[0]).reshape(-1, 1, 1)
        if bool((live & (sample != own)).any()):
            raise ValueError(
                "moves entries between the samples of the batch (the batch dim must stay dim 0 "
                "and keep its entries)"
            )
        channel = torch.where(
            live, torch.div(src, per_channel, rounding_mode="floor") % base[1], -1
        )
        flat = channel.transpose(0, 1).reshape(shape[1], -1)
        high = flat.max(1).values
        low = (
            torch.where(flat >= 0, flat, torch.full_like(flat, high.max().item() + 1)).min(1).values
        )
        mixed = (high >= 0) & (low != high)
        if bool(mixed.any()):
            c = int(mixed.nonzero()[0])
            raise ValueError(
                f"leaves channel {c} of its {shape} output holding entries of several input "
                f"channels ({int(low[c])} and {int(high[c])} among them); modcore's units are "
                "channels (dim 1), so a channel must come from one input channel"
            )
        flow = self.base.take(high, shape)
        return flow.reshaped(shape, live[0].reshape(shape[1:]))


def index_of(value) -> torch.Tensor:
    """The entry numbers (float64, ``1 + `` flat position) of a flow or gathered tensor."""
    if isinstance(value, Gathered):
        return value.index
    n = int(torch.tensor(value.shape).prod())
    return torch.arange(1, n + 1, dtype=torch.float64).reshape(value.shape)


def window_pieces(flow: Flow, weights: torch.Tensor, shape) -> Flow:
    """Feature ``j`` of the result is ``sum_i weights[i, j] * feature i``: one piece per
    member of the widest window."""
    n_out = weights.shape[1]
    nonzero = weights != 0
    width = int(nonzero.sum(0).max()) if nonzero.numel() else 0
    # Members of each window, in feature order, padded with -1.
    order = torch.argsort((~nonzero).to(torch.int8), dim=0, stable=True)
    count = nonzero.sum(0)
    pieces = []
    for t in range(width):
        member = order[t]
        live = t < count
        index = torch.where(live, member, torch.full_like(member, -1))
        scale = torch.where(live, weights[member, torch.arange(n_out)], torch.zeros(()))
        for p in flow.pieces:
            taken = p.take(index)
            pieces.append(Piece(p.group, taken.units, taken.scale * scale.to(torch.float64)))
    return Flow(tuple(pieces), shape)
