"""The torch reader: torch.fx tracing, the routing table of accepted ops, and the autograd
check of the traced graph against the model. Needs the ``torch`` extra (its modules do;
this one names, without importing torch, the choices the CLI offers)."""

import typing as _typing

# How a conv kernel slice becomes one edge weight (see network_from_module).
KERNEL_NORMS = ("l1", "l2", "max_column")
# The 2021 paper's CNN runs clustered only the conv channels: its code kept the
# conv-to-conv adjacencies ``weights_[1:n_conv_layers]`` (clusterability_in_neural_networks,
# src/spectral_cluster_model.py, shuffle_and_cluster).
PRESETS = {"paper_cnn": {"include_input": False, "include_dense": False}}

if not _typing.TYPE_CHECKING:  # its modules as attributes, imported on first use
    from ...common.lazy import submodule_getattr

    __getattr__ = submodule_getattr(__name__)
