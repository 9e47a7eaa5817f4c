"""The torch reader: torch.fx tracing, the routing table of accepted ops, and the autograd
check of the traced graph against the model. Needs the ``torch`` extra (its modules do;
this one names, without importing torch, the choices the CLI offers)."""

import typing as _typing

# A conv channel is one unit, and two reductions make it so. They reduce different
# things, hence two names: ``kernel_norm`` turns the kernel slice ``w[out, in]`` that
# joins two channels (weights) into one edge weight (network_from_module); ``map_norm``
# turns a channel's output map ``a[h, w]`` on one example (activations) into the unit's
# value (nn.activations, functional_modules). Where both offer a value it is the same
# function of the 2-D array: "l2" the Frobenius norm, "max_column" numpy's matrix 1-norm
# (the largest column sum of |x|, the 2021 code's). "l1" (sum |w|) is for kernels,
# "mean_abs" (mean |a|, which does not grow with the map's size) and "spectral" (the
# largest singular value, the 2021 code's activations) for maps. docs/user_guide.rst,
# "Conv channels as units", says the same for users.
KERNEL_NORMS = ("l1", "l2", "max_column")
MAP_NORMS = ("l2", "mean_abs", "max_column", "spectral")
# The 2021 paper's CNN runs clustered only the conv channels: its code kept the
# conv-to-conv adjacencies ``weights_[1:n_conv_layers]`` (clusterability_in_neural_networks,
# src/spectral_cluster_model.py, shuffle_and_cluster).
PRESETS = {"paper_cnn": {"include_input": False, "include_dense": False}}

if not _typing.TYPE_CHECKING:  # its modules as attributes, imported on first use
    from ...common.lazy import submodule_getattr

    __getattr__ = submodule_getattr(__name__)
