"""Which reader takes a torch module: a transformer's, the tracer's, or none (refused)."""

from __future__ import annotations

import re

from .stream import Transformer

__all__ = ["read_transformer"]

READ = (
    "torch.nn's MultiheadAttention, TransformerEncoderLayer, TransformerEncoder, "
    "TransformerDecoderLayer, TransformerDecoder and Transformer, Hugging Face "
    "GPT2LMHeadModel and GPT2Model, and TransformerLens's HookedTransformer (before 4.0), "
    "each as the whole model"
)
# Class names of attention layers and transformers that no reader of modcore models.
_ATTENTION_NAME = re.compile(r"attention|attn|transformer", re.IGNORECASE)


def read_transformer(model) -> Transformer | None:
    """The model as a :class:`~.stream.Transformer`, or None where it holds no
    attention (the tracer reads it).

    Raises
    ------
    ValueError
        For attention that modcore does not read: another implementation, a
        Hugging Face model other than GPT-2, TransformerLens, or a model that wraps a
        supported layer inside code of its own (the message names the module).
    """
    from .read_nn import NN_CLASSES, read_nn

    cls = type(model)
    origin = cls.__module__ or ""
    if origin.startswith("transformers."):
        from .read_gpt2 import GPT2_CLASSES, read_gpt2

        if cls.__name__ in GPT2_CLASSES and origin.startswith("transformers.models.gpt2."):
            return read_gpt2(model)
        raise ValueError(
            f"{cls.__name__} ({origin}) is a Hugging Face model modcore does not read; "
            f"it reads {READ}"
        )
    if origin.startswith("transformer_lens"):
        if cls.__name__ == "HookedTransformer":
            from .read_lens import read_lens

            return read_lens(model)
        raise ValueError(
            f"{cls.__name__} ({origin}) is a TransformerLens model modcore does not read; "
            f"it reads {READ}"
        )
    if isinstance(model, NN_CLASSES):
        return read_nn(model)
    for name, module in model.named_modules():
        sub = type(module)
        if isinstance(module, NN_CLASSES) or (sub.__module__ or "").startswith("transformers."):
            raise ValueError(
                f"{cls.__name__} holds {name!r} ({sub.__name__}) inside a forward of its own, "
                f"which modcore does not read; it reads {READ}: pass that module itself"
            )
        if _ATTENTION_NAME.search(sub.__name__):
            raise ValueError(
                f"{name or 'the model'!r} ({sub.__name__}) looks like an attention layer, which "
                f"modcore does not read; it reads {READ}"
            )
    return None
