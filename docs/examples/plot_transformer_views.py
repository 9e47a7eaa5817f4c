"""
A transformer's modules, in both views
======================================

A transformer's residual stream has no privileged basis, so modcore does not count its
dimensions as units: it reads a transformer in one of two views (see the Method page,
"Transformers"). ``view="blocks"`` takes each MLP on its own (residual in, neurons,
residual out) and gives one result per MLP; ``view="virtual"`` contracts the stream away
and joins the units that have a basis (here the input's features, the attention heads, the
MLP neurons and the output's features) by the size of the maps between them. Every
function that takes a network takes ``view=``.

The model is a two-layer ``torch.nn.TransformerEncoder``, randomly initialised: there is no
training here, so there are no modules to expect, and the test against shuffled networks
says whether the graph is more modular than its own shuffles.
"""

import torch
from torch import nn

import modcore
import modcore.network.transformer as mt
import modcore.report.plot

torch.manual_seed(0)
layer = nn.TransformerEncoderLayer(
    d_model=16, nhead=4, dim_feedforward=64, batch_first=True, norm_first=True
)
model = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
# TransformerEncoder copies the layer it is given: draw each layer's weights anew, as
# nn.Transformer does, or the two MLPs would be the same.
for weight in model.parameters():
    if weight.dim() > 1:
        nn.init.xavier_uniform_(weight)

# %%
# The blocks view: one network per MLP, 16 residual dims in, 64 neurons, 16 out.
for name, network in mt.block_networks(model).items():
    print(name, network.names, network.sizes)

per_block = modcore.ncut_significance(
    model, view="blocks", n_clusters=4, n_shuffles=99, seed=0, progress=False
)
for name, sig in per_block.items():
    print(
        f"{name}: n-cut {sig.ncut:.4f}, shuffles {sig.shuffled_mean:.4f} ± "
        f"{sig.shuffled_std:.4f}, z = {sig.z_score:.2f}, p = {sig.p_value:.2f}"
    )

# %%
# The virtual view: one network over every unit with a basis. Each attention head is one
# node (4 per layer); a head's edges are the norms of its OV circuit composed with what it
# reads and writes.
network = mt.virtual_network(model)
print(network.names, network.sizes)

virtual = modcore.ncut_significance(
    model, view="virtual", n_clusters=4, n_shuffles=99, seed=0, progress=False
)
print(virtual)

# %%
# The virtual graph's n-cut against its 99 shuffles (each block of edges shuffled alone,
# as the layers of an MLP).
fig = modcore.report.plot.null_histogram(virtual)

# %%
# As measured when these docs were built (the output above): neither MLP is more modular
# than its shuffles (p = 0.60 and 0.70), nor is the virtual graph (z = -0.70, p = 0.22), as
# expected of weights that were never trained. The p-values of 99 shuffles cannot go below
# 0.01. The same calls take ``view=`` in :func:`modcore.ncut_curve`,
# :func:`modcore.eigengap`, :func:`modcore.stability` and :func:`modcore.sweep`, and
# ``modcore.nn.lesion_study(model, (x, y), view=...)`` lesions the MLP neurons of each
# module.
