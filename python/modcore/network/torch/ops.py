"""The torch ops modcore's tracer and activation recorder both recognise by kind.

One vocabulary for both walks over a traced model (:mod:`modcore.network.torch.trace_walk`,
which lets units pass through them, and :mod:`modcore.nn.activations`, which
records a layer's value after its activation), so a new activation is added once.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ACTIVATION_FUNCTIONS",
    "ACTIVATION_METHODS",
    "ACTIVATION_MODULES",
    "BATCHNORMS",
    "DROPOUT_FUNCTIONS",
    "DROPOUT_MODULES",
    "NO_OP_METHODS",
    "functions",
]


def functions(owner, names) -> frozenset:
    """The functions of ``owner`` named ``names`` that this torch has."""
    return frozenset(getattr(owner, n) for n in names if hasattr(owner, n))


# Elementwise activations (softmax-like ones keep each unit in place too).
# fmt: off
ACTIVATION_MODULES = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU,
    nn.SiLU, nn.Mish, nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid,
    nn.Hardshrink, nn.Softshrink, nn.Softplus, nn.Softsign, nn.Tanhshrink, nn.LogSigmoid,
    nn.Threshold, nn.Softmax, nn.LogSoftmax, nn.Softmin, nn.Softmax2d,
)
ACTIVATION_FUNCTIONS = functions(F, (
    "relu", "relu_", "relu6", "leaky_relu", "leaky_relu_", "prelu", "rrelu", "elu", "elu_",
    "selu", "celu", "gelu", "silu", "mish", "sigmoid", "tanh", "hardtanh", "hardtanh_",
    "hardswish", "hardsigmoid", "hardshrink", "softshrink", "softplus", "softsign",
    "tanhshrink", "logsigmoid", "threshold", "softmax", "log_softmax", "softmin",
)) | functions(torch, (
    "relu", "relu_", "sigmoid", "tanh", "clamp", "clip", "softmax", "log_softmax",
))
ACTIVATION_METHODS = frozenset((
    "relu", "relu_", "sigmoid", "sigmoid_", "tanh", "tanh_", "clamp", "clamp_", "clamp_min",
    "clamp_min_", "clamp_max", "clamp_max_", "clip", "clip_", "softmax", "log_softmax",
))
# Identities in eval mode.
DROPOUT_MODULES = (
    nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
    nn.FeatureAlphaDropout,
)
DROPOUT_FUNCTIONS = functions(F, (
    "dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout",
)) | functions(torch, ("dropout",))
# fmt: on
# Tensor methods that change only the dtype, device or memory layout.
NO_OP_METHODS = frozenset(
    ("contiguous", "clone", "detach", "float", "double", "half", "to", "cpu", "cuda")
)
BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)
