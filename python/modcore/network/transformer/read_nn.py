"""torch.nn's attention layers as :class:`~.stream.Transformer` (docs: "Transformers").

Read: ``nn.MultiheadAttention`` (self-attention: the heads read the value input),
``nn.TransformerEncoderLayer``, ``nn.TransformerEncoder``, ``nn.TransformerDecoderLayer``,
``nn.TransformerDecoder`` and ``nn.Transformer`` (the last three: blocks view only;
their cross-attention reads a second stream, which the virtual view does not model).
Each is read as the whole model: the input's features are written into the stream
as they are (``I``) and the output's features read from it (``I``, after a final
norm). A subclass that overrides ``forward``, a norm that is not ``nn.LayerNorm``,
an activation not known to act unit by unit or attention with ``kdim``/``vdim``
other than ``embed_dim`` is refused by name.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .stream import Heads, Mlp, StreamMap, Transformer, Units, layernorm_read, weight_array

__all__ = ["NN_CLASSES", "read_nn"]

NN_CLASSES = (
    nn.MultiheadAttention,
    nn.TransformerEncoderLayer,
    nn.TransformerEncoder,
    nn.TransformerDecoderLayer,
    nn.TransformerDecoder,
    nn.Transformer,
)
# Activations that act on each unit alone (so a neuron stays one unit).
_UNITWISE_MODULES = (
    nn.ReLU,
    nn.GELU,
    nn.SiLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.LeakyReLU,
    nn.ELU,
    nn.Mish,
    nn.Identity,
)
_UNITWISE_FUNCTIONS = (F.relu, F.gelu, F.silu, torch.relu, torch.tanh, torch.sigmoid)


def read_nn(model: Any) -> Transformer:
    """The transformer behind one of :data:`NN_CLASSES`, read as the whole model."""
    cls = _base_class(model)
    kind = f"nn.{cls.__name__}"
    if cls is nn.MultiheadAttention:
        width = int(model.embed_dim)
        heads = _heads(model, "", None, residual=False)
        alone = (Units("input", write=np.eye(width)), heads, Units("output", read=np.eye(width)))
        return Transformer(kind, width, alone, ())
    layers, norm, cross = _layers(model, cls)
    d = _d_model(layers[0][1])
    steps: list = [Units("input", write=np.eye(d))]
    mlps = []
    for prefix, layer in layers:
        _check_layer(layer, prefix)
        mlps.append(_mlp(layer, prefix))
        steps += _layer_steps(layer, prefix, d)
    if norm is not None:
        steps.append(StreamMap(_norm_map(norm, "norm", d)))
    steps.append(Units("output", read=np.eye(d)))
    refusal = None
    if cross:
        refusal = (
            f"{kind} has cross-attention ({cross}: it reads the encoder's output, a second "
            "stream), which view='virtual' does not model; view='blocks' reads its MLPs"
        )
    return Transformer(kind, d, tuple(steps), tuple(mlps), refusal)


def _base_class(model: nn.Module) -> type:
    for cls in NN_CLASSES:
        if isinstance(model, cls):
            if type(model).forward is not cls.forward:
                raise ValueError(
                    f"{type(model).__name__} subclasses nn.{cls.__name__} with a forward of "
                    "its own, which modcore cannot read from the weights alone"
                )
            return cls
    raise ValueError(f"{type(model).__name__} is not one of torch.nn's attention layers")


def _layers(model, cls) -> tuple:
    """``[(prefix, layer)]``, the final norm, and the name of a cross-attention (if any)."""
    if cls in (nn.TransformerEncoderLayer, nn.TransformerDecoderLayer):
        layers, norm = [("", model)], None
    elif cls in (nn.TransformerEncoder, nn.TransformerDecoder):
        layers = [(f"layers.{i}.", layer) for i, layer in enumerate(model.layers)]
        norm = model.norm
    else:  # nn.Transformer: its encoder's output is the decoder's memory only
        layers = [(f"encoder.layers.{i}.", m) for i, m in enumerate(model.encoder.layers)]
        layers += [(f"decoder.layers.{i}.", m) for i, m in enumerate(model.decoder.layers)]
        norm = None
    if not layers:
        raise ValueError(f"nn.{cls.__name__} has no layers")
    cross = [p + "multihead_attn" for p, m in layers if isinstance(m, nn.TransformerDecoderLayer)]
    return layers, norm, ", ".join(cross)


def _d_model(layer) -> int:
    return int(layer.self_attn.embed_dim)


def _check_layer(layer, prefix: str) -> None:
    for cls in (nn.TransformerEncoderLayer, nn.TransformerDecoderLayer):
        if isinstance(layer, cls) and type(layer).forward is not cls.forward:
            raise ValueError(
                f"layer {prefix or type(layer).__name__!r} ({type(layer).__name__}) overrides "
                f"nn.{cls.__name__}.forward, which modcore cannot read from the weights alone"
            )
    if not isinstance(layer, (nn.TransformerEncoderLayer, nn.TransformerDecoderLayer)):
        raise ValueError(f"layer {prefix!r} is a {type(layer).__name__}, not a transformer layer")
    act = layer.activation
    if not (isinstance(act, _UNITWISE_MODULES) or any(act is f for f in _UNITWISE_FUNCTIONS)):
        raise ValueError(
            f"{prefix}activation is {getattr(act, '__name__', type(act).__name__)}, which "
            "modcore does not know to act on each neuron alone; use 'relu', 'gelu' or an "
            "nn activation module (nn.GELU(approximate='tanh'), ...)"
        )
    for name in ("linear1", "linear2"):
        if type(getattr(layer, name)) is not nn.Linear:
            raise ValueError(
                f"{prefix}{name} is a {type(getattr(layer, name)).__name__}, not nn.Linear"
            )


def _mlp(layer, prefix: str) -> Mlp:
    w1 = weight_array(layer.linear1.weight)  # (n, d): out x in
    w2 = weight_array(layer.linear2.weight)  # (d, n)
    return Mlp(prefix + "linear1", w1.T, w2.T)


def _layer_steps(layer, prefix: str, d: int) -> list:
    """Pre-LN (``norm_first``): each norm folds into the read after it. Post-LN: each
    norm maps the stream after the residual add."""
    if isinstance(layer, nn.TransformerDecoderLayer):
        return []  # the virtual view refuses cross-attention before it reads steps
    mlp = _mlp(layer, prefix)
    norm1 = _norm_map(layer.norm1, prefix + "norm1", d)
    norm2 = _norm_map(layer.norm2, prefix + "norm2", d)
    if layer.norm_first:
        return [
            _heads(layer.self_attn, prefix + "self_attn", norm1),
            Units(mlp.name, read=norm2 @ mlp.w_in, write=mlp.w_out),
        ]
    return [
        _heads(layer.self_attn, prefix + "self_attn", None),
        StreamMap(norm1),
        Units(mlp.name, read=mlp.w_in, write=mlp.w_out),
        StreamMap(norm2),
    ]


def _heads(attn: nn.MultiheadAttention, name: str, norm, residual: bool = True) -> Heads:
    if type(attn) is not nn.MultiheadAttention:
        raise ValueError(
            f"{name or 'the model'} is a {type(attn).__name__}, not nn.MultiheadAttention"
        )
    if not attn._qkv_same_embed_dim:
        raise ValueError(
            f"{name or 'nn.MultiheadAttention'} has kdim/vdim ({attn.kdim}, {attn.vdim}) other "
            f"than embed_dim {attn.embed_dim}: its values come from another stream, which "
            "modcore does not model"
        )
    d, n_heads, d_head = attn.embed_dim, attn.num_heads, attn.head_dim
    w_v = weight_array(attn.in_proj_weight)[2 * d : 3 * d]  # (n_heads * d_head, d): out x in
    w_o = weight_array(attn.out_proj.weight)  # (d, n_heads * d_head)
    read = w_v.T.reshape(d, n_heads, d_head).transpose(1, 0, 2)  # (heads, d, d_head)
    if norm is not None:
        read = np.einsum("de,hef->hdf", norm, read)
    write = w_o.T.reshape(n_heads, d_head, d)
    return Heads(name or "heads", read, write, residual)


def _norm_map(norm, name: str, d: int) -> np.ndarray:
    if type(norm) is not nn.LayerNorm or tuple(norm.normalized_shape) != (d,):
        raise ValueError(
            f"{name} is a {type(norm).__name__} (shape {getattr(norm, 'normalized_shape', '?')}); "
            f"modcore reads nn.LayerNorm over the {d} model dims"
        )
    gain = None if norm.weight is None else weight_array(norm.weight)
    return layernorm_read(gain, d)
