"""Hugging Face GPT-2 (``GPT2LMHeadModel``, ``GPT2Model``) as :class:`~.stream.Transformer`.

GPT-2 is pre-LN: ``ln_1`` folds into the heads' value reads, ``ln_2`` into the MLP's
read, ``ln_f`` into the logits' read (the unembedding, ``lm_head.weight.T``) or, for a
``GPT2Model``, into the read of its output features. Its ``Conv1D`` layers store
weights as ``(in, out)`` and compute ``x @ W + b``, so ``c_fc.weight`` is ``W_in`` as
it is (no transpose, unlike ``nn.Linear``); ``c_attn.weight`` holds
``[W_Q | W_K | W_V]`` side by side, each ``(d_model, d_model)`` with the heads in
consecutive ``d_head`` columns, and ``c_proj.weight`` the heads in consecutive
``d_head`` rows. Token and position embeddings are two input groups.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .stream import Heads, Mlp, Transformer, Units, layernorm_read, weight_array

__all__ = ["GPT2_CLASSES", "load_gpt2", "read_gpt2"]

GPT2_CLASSES = ("GPT2LMHeadModel", "GPT2Model")
_ATTENTION = ("GPT2Attention", "GPT2SdpaAttention", "GPT2FlashAttention2")


def read_gpt2(model) -> Transformer:
    """The transformer behind a ``GPT2LMHeadModel`` or ``GPT2Model``."""
    kind = type(model).__name__
    if kind == "GPT2LMHeadModel":
        body, root, head = model.transformer, "transformer.", model.lm_head
    else:
        body, root, head = model, "", None
    d = int(body.wte.weight.shape[1])
    steps: list = [
        Units("tokens", write=weight_array(body.wte.weight)),
        Units("positions", write=weight_array(body.wpe.weight)),
    ]
    mlps, cross = [], []
    for i, block in enumerate(body.h):
        prefix = f"{root}h.{i}."
        _check_classes(block, prefix)
        if getattr(block, "crossattention", None) is not None:
            cross.append(prefix + "crossattention")
        steps.append(_heads(block.attn, prefix + "attn", layernorm_read(_gain(block.ln_1), d)))
        w_in = _conv1d(block.mlp.c_fc, prefix + "mlp.c_fc")  # (d, n)
        w_out = _conv1d(block.mlp.c_proj, prefix + "mlp.c_proj")  # (n, d)
        mlps.append(Mlp(prefix + "mlp", w_in, w_out))
        steps.append(
            Units(prefix + "mlp", read=layernorm_read(_gain(block.ln_2), d) @ w_in, write=w_out)
        )
    final = layernorm_read(_gain(body.ln_f), d)
    if head is None:
        steps.append(Units("output", read=final))
    else:
        if type(head) is not torch.nn.Linear:
            raise ValueError(f"lm_head is a {type(head).__name__}, not nn.Linear")
        steps.append(Units("logits", read=final @ weight_array(head.weight).T))
    refusal = None
    if cross:
        refusal = (
            f"{kind} has cross-attention ({', '.join(cross)}: add_cross_attention=True reads "
            "an encoder's output, a second stream), which view='virtual' does not model; "
            "view='blocks' reads its MLPs"
        )
    return Transformer(kind, d, tuple(steps), tuple(mlps), refusal)


def _check_classes(block, prefix: str) -> None:
    expected = {
        "": ("GPT2Block",),
        "attn": _ATTENTION,
        "mlp": ("GPT2MLP",),
        "ln_1": ("LayerNorm",),
        "ln_2": ("LayerNorm",),
    }
    for name, allowed in expected.items():
        module = block.get_submodule(name) if name else block
        if type(module).__name__ not in allowed:
            raise ValueError(
                f"{prefix}{name or 'block'} is a {type(module).__name__}; modcore reads GPT-2 "
                f"built of {', '.join(allowed)}"
            )
    if getattr(block.attn, "is_cross_attention", False):
        raise ValueError(f"{prefix}attn is a cross-attention layer")


def _heads(attn, name: str, norm: np.ndarray) -> Heads:
    n_heads, d_head, split = int(attn.num_heads), int(attn.head_dim), int(attn.split_size)
    w = _conv1d(attn.c_attn, name + ".c_attn")  # (d, 3 * split): [W_Q | W_K | W_V]
    w_v = w[:, 2 * split : 3 * split]
    if w_v.shape[1] != n_heads * d_head:
        raise ValueError(
            f"{name}: W_V has {w_v.shape[1]} columns, expected {n_heads} heads x {d_head}"
        )
    read = w_v.reshape(w.shape[0], n_heads, d_head).transpose(1, 0, 2)  # (heads, d, d_head)
    read = np.einsum("de,hef->hdf", norm, read)
    write = _conv1d(attn.c_proj, name + ".c_proj").reshape(n_heads, d_head, -1)
    return Heads(name, read, write)


def _conv1d(layer, name: str) -> np.ndarray:
    """A Conv1D's weight as it applies it, ``(in, out)``."""
    if type(layer).__name__ != "Conv1D":
        raise ValueError(f"{name} is a {type(layer).__name__}, not transformers' Conv1D")
    return weight_array(layer.weight)


def _gain(norm):
    if type(norm).__name__ != "LayerNorm":
        raise ValueError(f"expected a LayerNorm, got {type(norm).__name__}")
    return None if norm.weight is None else weight_array(norm.weight)


def load_gpt2(folder) -> Any:
    """A GPT-2 saved by ``save_pretrained`` in ``folder`` (``config.json`` and
    ``model.safetensors``), read from that folder alone: nothing is downloaded, and
    no pickled file is loaded (safetensors only)."""
    import json
    from pathlib import Path

    folder = Path(folder)
    config = folder / "config.json"
    if not config.is_file():
        raise ValueError(f"{folder}: no config.json (a Hugging Face model folder has one)")
    try:
        saved = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{config}: not a readable JSON config ({exc})") from exc
    if not isinstance(saved, dict) or saved.get("model_type") != "gpt2":
        kind = saved.get("model_type") if isinstance(saved, dict) else None
        raise ValueError(f"{folder}: model_type {kind!r}; modcore reads Hugging Face GPT-2 only")
    try:
        import transformers
    except ImportError as exc:
        raise ImportError(
            "reading a Hugging Face model needs transformers: pip install 'modcore[transformers]'"
        ) from exc
    architectures = saved.get("architectures") or ["GPT2LMHeadModel"]
    name = "GPT2Model" if architectures == ["GPT2Model"] else "GPT2LMHeadModel"
    from transformers.utils import logging as hf_logging

    bar = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # modcore shows its own progress
    try:
        return getattr(transformers, name).from_pretrained(
            folder, local_files_only=True, use_safetensors=True
        )
    except (OSError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{folder}: transformers could not load it ({exc})") from exc
    finally:
        if bar:
            hf_logging.enable_progress_bar()
