"""TransformerLens ``HookedTransformer`` (versions before 4.0) as :class:`~.stream.Transformer`.

TransformerLens stores every weight as it multiplies row vectors: ``embed.W_E``
``(d_vocab, d_model)``, ``pos_embed.W_pos`` ``(n_ctx, d_model)``, per block
``attn.W_V`` ``(n_heads, d_model, d_head)`` and ``attn.W_O`` ``(n_heads, d_head,
d_model)``, ``mlp.W_in`` ``(d_model, d_mlp)`` and ``mlp.W_out`` ``(d_mlp, d_model)``,
``unembed.W_U`` ``(d_model, d_vocab)``, so nothing is transposed. Blocks are pre-LN:
``ln1`` folds into the heads' value reads, ``ln2`` into the MLP's read, ``ln_final``
into the logits' read. Norms: ``"LN"`` (centring and gain), ``"LNPre"`` (centring:
the gain was folded into the weights), ``"RMS"`` (gain), ``"RMSPre"`` and None
(neither). Positions are an input group only where they are added to the stream
(``positional_embedding_type="standard"``; shortformer, rotary and alibi positions act
on queries and keys alone). Refused by name: ``parallel_attn_mlp`` (attention and
MLP read the same stream), gated MLPs, activations that mix neurons (``solu``,
``solu_ln``), attention or MLP classes other than the plain ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .stream import Heads, Mlp, Transformer, Units, layernorm_read, weight_array

__all__ = ["read_lens"]

# Activations that act on each neuron alone (solu and solu_ln mix them).
_UNITWISE = {
    "relu",
    "gelu",
    "gelu_new",
    "gelu_fast",
    "gelu_pytorch_tanh",
    "silu",
    "quick_gelu",
}
# TransformerLens's norm classes -> (centred, has a gain); Identity where there is none.
_NORMS = {
    "LayerNorm": (True, True),
    "LayerNormPre": (True, False),
    "RMSNorm": (False, True),
    "RMSNormPre": (False, False),
}


def read_lens(model: Any) -> Transformer:
    """The transformer behind a ``HookedTransformer``."""
    cfg = model.cfg
    d = int(cfg.d_model)
    for flag in ("parallel_attn_mlp", "gated_mlp", "use_normalization_before_and_after"):
        if getattr(cfg, flag, False):
            raise ValueError(
                f"HookedTransformer with {flag}=True, which modcore does not read "
                "(docs: Transformers)"
            )
    if not cfg.attn_only and cfg.act_fn not in _UNITWISE:
        raise ValueError(
            f"HookedTransformer act_fn={cfg.act_fn!r} does not act on each neuron alone; "
            f"modcore reads {sorted(_UNITWISE)}"
        )
    steps: list = [Units("tokens", write=weight_array(model.embed.W_E))]
    if cfg.positional_embedding_type == "standard":
        steps.append(Units("positions", write=weight_array(model.pos_embed.W_pos)))
    mlps = []
    for i, block in enumerate(model.blocks):
        prefix = f"blocks.{i}."
        attn = block.attn
        if type(attn).__name__ != "Attention":
            raise ValueError(
                f"{prefix}attn is a {type(attn).__name__}; modcore reads TransformerLens's "
                "Attention"
            )
        read = weight_array(attn.W_V)  # (heads, d, d_head)
        norm = _norm(block, "ln1", d)
        if norm is not None:
            read = np.einsum("de,hef->hdf", norm, read)
        steps.append(Heads(prefix + "attn", read, weight_array(attn.W_O)))
        if cfg.attn_only:
            continue
        if type(block.mlp).__name__ != "MLP":
            raise ValueError(
                f"{prefix}mlp is a {type(block.mlp).__name__}; modcore reads TransformerLens's MLP"
            )
        w_in, w_out = weight_array(block.mlp.W_in), weight_array(block.mlp.W_out)
        mlps.append(Mlp(prefix + "mlp", w_in, w_out))
        norm = _norm(block, "ln2", d)
        steps.append(Units(prefix + "mlp", read=w_in if norm is None else norm @ w_in, write=w_out))
    final = _norm(model, "ln_final", d)
    w_u = weight_array(model.unembed.W_U)
    steps.append(Units("logits", read=w_u if final is None else final @ w_u))
    return Transformer("HookedTransformer", d, tuple(steps), tuple(mlps))


def _norm(owner, name: str, d: int):
    """The norm ``owner.name`` as a map of the stream; None where there is none."""
    norm = getattr(owner, name, None)
    kind = type(norm).__name__
    if norm is None or kind == "Identity":
        return None
    if kind not in _NORMS:
        raise ValueError(f"{name} is a {kind}; modcore reads TransformerLens's {sorted(_NORMS)}")
    centred, has_gain = _NORMS[kind]
    return layernorm_read(weight_array(norm.w) if has_gain else None, d, centred=centred)
