"""A ``torch.export`` program (a ``.pt2`` file from ``torch.export.save``) read into the
unit graph by the same tracer and verification as any ``nn.Module``.

Loading: every pickle the archive holds is refused unless ``torch.load(weights_only=True)``
reads it (weights stored pickled, custom or opaque objects are refused), and only then does
``torch.export.load`` run, so no pickled code from the file runs. Reading: the program's
graph is made of ATen ops; each one in :data:`ATEN_OPS` is rebuilt as the torch layer or
function of the same arguments (``aten.linear`` as an ``nn.Linear`` holding the program's
weight, named by the weight's module, ``aten.batch_norm`` in eval form as an
``nn.BatchNorm`` holding its statistics, ``aten.relu`` as ``torch.relu``, ...), which the
tracer's routing table reads and its autograd check verifies; any other op is refused,
naming it. The rebuilt module must give the program's outputs on random inputs.
"""

from __future__ import annotations

import io
import json
import operator
import posixpath
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn

from ..torch_files import NOT_ZIP, is_zip_format

__all__ = ["ATEN_OPS", "load_exported", "module_from_exported"]

aten = torch.ops.aten

# ATen op -> the torch function (or, as a string, the tensor method) of the same
# positional arguments, which the tracer reads.
# fmt: off
ATEN_OPS: dict[Any, Callable[..., Any] | str] = {
    aten.relu.default: torch.relu, aten.relu_.default: torch.relu_,
    aten.relu6.default: F.relu6, aten.sigmoid.default: torch.sigmoid,
    aten.tanh.default: torch.tanh, aten.gelu.default: F.gelu, aten.silu.default: F.silu,
    aten.leaky_relu.default: F.leaky_relu, aten.leaky_relu_.default: F.leaky_relu_,
    aten.hardtanh.default: F.hardtanh, aten.hardtanh_.default: F.hardtanh_,
    aten.elu.default: F.elu, aten.celu.default: F.celu, aten.selu.default: F.selu,
    aten.softplus.default: F.softplus, aten.mish.default: F.mish,
    aten.hardswish.default: F.hardswish, aten.hardsigmoid.default: F.hardsigmoid,
    aten.clamp.default: torch.clamp,
    aten.max_pool1d.default: F.max_pool1d, aten.max_pool2d.default: F.max_pool2d,
    aten.max_pool3d.default: F.max_pool3d, aten.avg_pool1d.default: F.avg_pool1d,
    aten.avg_pool2d.default: F.avg_pool2d, aten.avg_pool3d.default: F.avg_pool3d,
    aten.adaptive_avg_pool1d.default: F.adaptive_avg_pool1d,
    aten.adaptive_avg_pool2d.default: F.adaptive_avg_pool2d,
    aten.adaptive_avg_pool3d.default: F.adaptive_avg_pool3d,
    aten.adaptive_max_pool1d.default: F.adaptive_max_pool1d,
    aten.adaptive_max_pool2d.default: F.adaptive_max_pool2d,
    aten.adaptive_max_pool3d.default: F.adaptive_max_pool3d,
    aten.max_pool2d_with_indices.default: F.max_pool2d,
    aten.max_pool3d_with_indices.default: F.max_pool3d,
    aten.mean.dim: torch.mean, aten.sum.dim_IntList: torch.sum,
    aten.flatten.using_ints: torch.flatten, aten.unflatten.int: torch.unflatten,
    aten.view.default: torch.reshape, aten.reshape.default: torch.reshape,
    aten.permute.default: torch.permute, aten.transpose.int: torch.transpose,
    aten.t.default: torch.t, aten.squeeze.dim: torch.squeeze,
    aten.unsqueeze.default: torch.unsqueeze, aten.clone.default: torch.clone,
    aten.contiguous.default: "contiguous", aten.cat.default: torch.cat,
    aten.add.Tensor: torch.add, aten.add_.Tensor: "add_", aten.sub.Tensor: torch.sub,
    aten.sub_.Tensor: "sub_", aten.mul.Tensor: torch.mul, aten.mul_.Tensor: "mul_",
    aten.div.Tensor: torch.div,
    aten.dropout.default: F.dropout, aten.feature_dropout.default: F.dropout,
    aten.alpha_dropout.default: F.dropout, aten.feature_alpha_dropout.default: F.dropout,
    aten.softmax.int: torch.softmax, aten.log_softmax.int: torch.log_softmax,
    aten.pad.default: F.pad, aten.upsample_nearest1d.vec: F.interpolate,
    aten.upsample_nearest2d.vec: F.interpolate, aten.upsample_nearest3d.vec: F.interpolate,
}
# fmt: on
# Ops whose torch twin takes fewer positional arguments of the same meaning (F.elu's third
# is inplace, aten.elu's is a scale): more than this many is refused.
_N_ARGS = {aten.elu.default: 2}
# Ops that are identities (dropout) or fixed scales (BatchNorm) only in eval mode.
_TRAINING_FLAG = {
    aten.dropout.default,
    aten.feature_dropout.default,
    aten.alpha_dropout.default,
    aten.feature_alpha_dropout.default,
    aten.batch_norm.default,
}
# Ops returning a tuple whose item 0 is the result, the rest (pooling indices, BatchNorm's
# saved statistics) unused by the twin, which returns item 0 alone.
_FIRST_OF_TUPLE = {
    aten.adaptive_max_pool1d.default,
    aten.adaptive_max_pool2d.default,
    aten.adaptive_max_pool3d.default,
    aten.max_pool2d_with_indices.default,
    aten.max_pool3d_with_indices.default,
    aten._native_batch_norm_legit_no_training.default,
}
# What Linear and conv layers become in a program decomposed to core ATen ops.
_DECOMPOSED = {aten.addmm.default, aten.mm.default, aten.convolution.default}
_BATCHNORMS = {aten.batch_norm.default, aten._native_batch_norm_legit_no_training.default}
_LAYERS = {
    aten.linear.default: "linear",
    aten.conv1d.default: "conv",
    aten.conv2d.default: "conv",
    aten.conv3d.default: "conv",
    aten.conv1d.padding: "conv",
    aten.conv2d.padding: "conv",
    aten.conv3d.padding: "conv",
    aten.conv_transpose1d.default: "transposed",
    aten.conv_transpose2d.input: "transposed",
    aten.conv_transpose3d.input: "transposed",
    aten.prelu.default: "prelu",
}
_CONV: dict[int, Any] = {3: nn.Conv1d, 4: nn.Conv2d, 5: nn.Conv3d}
_CONV_T: dict[int, Any] = {3: nn.ConvTranspose1d, 4: nn.ConvTranspose2d, 5: nn.ConvTranspose3d}
_BN: dict[int, Any] = {2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d, 5: nn.BatchNorm3d}
# Members of an archive that hold no pickle (text, or raw tensor bytes a config names).
_PLAIN = ("archive_format", "archive_version", "version", "byteorder", "serialization_id")


def load_exported(path: Path):
    """``torch.export.load(path)`` once every pickle in the archive is known to hold
    tensors only (``torch.load(weights_only=True)`` reads it); a ValueError naming the
    file and the member otherwise."""
    path = Path(path)
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path}: not a torch.export archive (.pt2): {exc}") from exc
    with archive:
        names = archive.namelist()
        if not any(n.endswith("/archive_format") for n in names):
            raise ValueError(f"{path}: not a torch.export archive (no archive_format)")
        raw = set()
        for name in names:
            if name.endswith(("_weights_config.json", "_constants_config.json")):
                folder = posixpath.dirname(name)
                for fqn, meta in json.loads(archive.read(name)).get("config", {}).items():
                    stored = str(meta.get("path_name", ""))
                    if meta.get("use_pickle") or not stored.startswith(("weight_", "tensor_")):
                        raise ValueError(
                            f"{path}: refused for safety: {fqn!r} is stored as a pickled "
                            "object, and modcore never runs code from a file; export the "
                            "model with plain tensor weights"
                        )
                    raw.add(posixpath.join(folder, stored))
        for name in names:
            if name in raw or name.endswith(("/", ".json")) or name.split("/")[-1] in _PLAIN:
                continue
            member = io.BytesIO(archive.read(name))
            if not is_zip_format(member):
                raise ValueError(f"{path}: refused: its member {name} is {NOT_ZIP}")
            member.seek(0)  # is_zipfile read its end
            try:
                torch.load(member, weights_only=True)
            except Exception as exc:
                raise ValueError(
                    f"{path}: refused for safety: its member {name} is not tensors alone "
                    f"(torch.load(weights_only=True) refuses it: {str(exc).splitlines()[0]}), "
                    "and modcore never runs code from a file"
                ) from exc
    try:
        return torch.export.load(path)
    except Exception as exc:
        raise ValueError(f"{path}: torch.export.load failed: {type(exc).__name__}: {exc}") from exc


def module_from_exported(program, *, n_checks: int = 2) -> tuple:
    """``(module, example_input)``: the program rebuilt of torch layers and functions the
    tracer reads, and a batch of the program's input shape.

    Raises
    ------
    ValueError
        If the program has other than one tensor input, holds an op outside
        :data:`ATEN_OPS` and the layers (naming the node and the op), or the rebuilt
        module's outputs differ from the program's.
    """
    original = program.module()
    graph = fx.Graph()
    env: dict = {}
    layers: dict = {}
    tuples: set = set()  # nodes of _FIRST_OF_TUPLE, read through getitem
    example = None
    for node in original.graph.nodes:
        if node.op == "placeholder":
            value = node.meta.get("val")
            if example is not None or not isinstance(value, torch.Tensor):
                raise ValueError(
                    "modcore reads exported programs with one tensor input; this one has "
                    f"input {node.name!r} of type {type(value).__name__}"
                )
            example = torch.randn(tuple(int(s) for s in value.shape))
            env[node] = graph.placeholder(node.name)
        elif node.op == "get_attr":
            env[node] = node  # read by the layer that uses it
        elif node.op == "call_module" and node.target.startswith("_guards"):
            continue  # torch.export's input checks, not part of the function
        elif node.op == "call_function" and node.target is operator.getitem:
            source, index = node.args
            if source not in tuples or (index != 0 and node.users):
                raise _refused(node)
            if index == 0:
                env[node] = env[source]
        elif node.op == "call_function" and node.target in (*_LAYERS, *_BATCHNORMS):
            _check_eval(node)
            read = _layer if node.target in _LAYERS else _batchnorm
            name, layer = read(original, node)
            layers[name] = layer
            env[node] = graph.call_module(name, (env[node.args[0]],))
            if node.target in _FIRST_OF_TUPLE:
                tuples.add(node)
        elif node.op == "call_function" and node.target in ATEN_OPS:
            _check_eval(node)
            if len(node.args) > _N_ARGS.get(node.target, len(node.args)):
                raise _refused(node, f"with {len(node.args)} arguments")
            args = fx.node.map_arg(node.args, lambda n: env[n])
            kwargs = fx.node.map_arg(node.kwargs, lambda n: env[n])
            twin = ATEN_OPS[node.target]
            if isinstance(twin, str):
                env[node] = graph.call_method(twin, args, kwargs)
            else:
                env[node] = graph.call_function(twin, args, kwargs)
            if node.target in _FIRST_OF_TUPLE:
                tuples.add(node)
        elif node.op == "output":
            outputs = fx.node.map_arg(node.args[0], lambda n: env[n])
            # One output is returned bare, as the program's module returns it.
            one = isinstance(outputs, (tuple, list)) and len(outputs) == 1
            graph.output(outputs[0] if one else outputs)
        else:
            raise _refused(node)
    if example is None:
        raise ValueError("the exported program has no tensor input")
    rebuilt = fx.GraphModule(layers or nn.Module(), graph)
    rebuilt.eval()
    with torch.no_grad():
        for _ in range(n_checks):
            x = torch.randn_like(example)
            want = torch.utils._pytree.tree_leaves(original(x))
            got = torch.utils._pytree.tree_leaves(rebuilt(x))
            same = len(want) == len(got) and all(
                torch.allclose(a, b, atol=1e-5, rtol=1e-4) for a, b in zip(want, got)
            )
            if not same:
                raise ValueError(
                    "the exported program rebuilt of torch layers gives other outputs than "
                    "the program: modcore does not read it (report this program to modcore)"
                )
    return rebuilt, example


def _refused(node, why: str = "") -> ValueError:
    if node.target in _DECOMPOSED:
        why = (
            f"{why} (a program decomposed to core ATen ops by run_decompositions(); save the "
            "one torch.export.export returns)"
        ).strip()
    return ValueError(
        f"the exported program's node {node.name!r} is {node.op} {node.target}"
        f"{' ' + why if why else ''}, an op modcore cannot read (it reads the ATen ops of "
        "Linear, convolution, transposed convolution, BatchNorm and PReLU layers, elementwise "
        "activations, dropout, pooling, padding, nearest upsampling, mean/sum over spatial "
        "dims, flatten/unflatten/view/reshape/permute/transpose/squeeze/unsqueeze, add/sub, "
        "mul/div and cat; "
        "docs/torch_ops.rst lists them); pass the model itself (Network.from_torch) or its "
        "factory (modcore analyze --model)"
    )


def _bound(node) -> dict:
    """The node's arguments by their ATen names."""
    from torch.fx.operator_schemas import normalize_function

    bound = normalize_function(
        node.target, node.args, node.kwargs, normalize_to_only_use_kwargs=True
    )
    if bound is None:
        raise ValueError(f"the exported program's node {node.name!r}: cannot bind {node.target}")
    return dict(bound.kwargs)


def _check_eval(node) -> None:
    """Dropout and BatchNorm in training mode draw or normalize by the batch: refused."""
    if node.target not in _TRAINING_FLAG:
        return
    kwargs = _bound(node)
    if kwargs.get("train", kwargs.get("training")) is not False:
        raise ValueError(
            f"the exported program's node {node.name!r} ({node.target}) runs in training "
            "mode (dropout draws, BatchNorm normalizes by the batch, or a BatchNorm without "
            "running statistics): export the model in eval mode, "
            "torch.export.export(model.eval(), ...)"
        )


def _batchnorm(original, node) -> tuple:
    """The nn.BatchNorm of an aten batch norm node in eval form, holding the program's
    affine weights and running statistics."""
    kwargs = _bound(node)
    nodes = [kwargs.get(k) for k in ("weight", "bias", "running_mean", "running_var")]
    if any(n is not None and getattr(n, "op", None) != "get_attr" for n in nodes):
        raise ValueError(
            f"the exported program's node {node.name!r} ({node.target}) takes a weight or "
            "statistic computed in the graph, not a parameter: modcore cannot read it"
        )
    weight, bias, mean, var = (None if n is None else _attr(original, n.target) for n in nodes)
    if mean is None or var is None or (weight is None) != (bias is None):
        raise ValueError(
            f"the exported program's node {node.name!r} ({node.target}) has no running "
            "statistics or only one of weight and bias: modcore cannot fold it"
        )
    value = kwargs["input"].meta.get("val") if isinstance(kwargs["input"], fx.Node) else None
    if not isinstance(value, torch.Tensor) or value.dim() not in _BN:
        raise ValueError(f"the exported program's node {node.name!r}: input of unknown rank")
    layer = _BN[value.dim()](mean.numel(), eps=float(kwargs["eps"]), affine=weight is not None)
    layer.eval()
    with torch.no_grad():
        layer.running_mean.copy_(mean)
        layer.running_var.copy_(var)
        if weight is not None:
            layer.weight.copy_(weight)
            layer.bias.copy_(bias)
    # Named by its module ("features.1.weight" or ".running_mean" -> "features.1").
    target = kwargs["running_mean"].target
    return (target.rsplit(".", 1)[0] if "." in target else node.name), layer


def _layer(original, node) -> tuple:
    """The nn.Linear, nn.Conv, nn.ConvTranspose or nn.PReLU of an aten node, holding the
    program's weights."""
    kwargs = _bound(node)
    weight_node, bias_node = kwargs["weight"], kwargs.get("bias")
    if getattr(weight_node, "op", None) != "get_attr" or (
        bias_node is not None and getattr(bias_node, "op", None) != "get_attr"
    ):
        raise ValueError(
            f"the exported program's node {node.name!r} ({node.target}) takes a weight "
            "computed in the graph, not a parameter: modcore cannot read it"
        )
    weight = _attr(original, weight_node.target).detach()
    bias = _attr(original, bias_node.target).detach() if bias_node is not None else None
    kind = _LAYERS[node.target]
    if kind == "linear":
        layer: nn.Module = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    elif kind == "prelu":  # an activation holding its slopes
        layer = nn.PReLU(weight.numel())
    elif kind == "transposed":  # weight (in, out / groups, *kernel)
        groups = int(kwargs.get("groups", 1))
        layer = _CONV_T[weight.dim()](
            weight.shape[0],
            weight.shape[1] * groups,
            tuple(weight.shape[2:]),
            stride=kwargs.get("stride", 1),
            padding=kwargs.get("padding", 0),
            output_padding=kwargs.get("output_padding", 0),
            groups=groups,
            bias=bias is not None,
            dilation=kwargs.get("dilation", 1),
        )
    else:
        groups = int(kwargs.get("groups", 1))
        layer = _CONV[weight.dim()](
            weight.shape[1] * groups,
            weight.shape[0],
            tuple(weight.shape[2:]),
            stride=kwargs.get("stride", 1),
            padding=kwargs.get("padding", 0),
            dilation=kwargs.get("dilation", 1),
            groups=groups,
            bias=bias is not None,
        )
    params = dict(layer.named_parameters())
    with torch.no_grad():
        params["weight"].copy_(weight)
        if bias is not None:
            params["bias"].copy_(bias)
    # Named by the weight's module ("features.0.weight" -> "features.0"), as the tracer
    # names a model's layers; a weight used twice is one module called twice.
    name = weight_node.target.rsplit(".", 1)[0] if "." in weight_node.target else node.name
    return name, layer


def _attr(module, target: str):
    for part in target.split("."):
        module = getattr(module, part)
    return module
