"""Hugging Face GPT-2 models of a given shape, randomly initialised from a seed (nothing
downloaded): the transformers of the experiments, benchmarks and tests. Needs the
``transformers`` package."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["gpt2_model"]


def gpt2_model(
    *,
    n_layer: int,
    n_embd: int,
    n_head: int,
    n_inner: int,
    vocab_size: int,
    n_positions: int,
    seed: int = 0,
    **config,
):
    """A ``GPT2LMHeadModel(GPT2Config(...))`` of this shape, its weights drawn after
    ``torch.manual_seed(seed)``; further ``GPT2Config`` keywords in ``config`` (dropouts).

    Its beginning and end of text are token 0: GPT-2's default (50,256) is outside a
    smaller vocabulary.
    """
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    options: dict[str, Any] = {"bos_token_id": 0, "eos_token_id": 0}
    options.update(config)
    return GPT2LMHeadModel(
        GPT2Config(
            n_layer=n_layer,
            n_embd=n_embd,
            n_head=n_head,
            n_inner=n_inner,
            vocab_size=vocab_size,
            n_positions=n_positions,
            **options,
        )
    )
