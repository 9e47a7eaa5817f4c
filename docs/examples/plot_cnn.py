"""
A small CNN, traced and clustered
=================================

:meth:`modcore.Network.from_torch` traces a torch model with ``torch.fx``: each conv
channel and each dense unit becomes a node; the edge between two channels weighs a norm
of the kernel slice joining them (``kernel_norm="l1"`` by default); at a Flatten, each
channel is joined to the dense units by its block of weights. ``input_shape`` (one
example, without the batch dimension) gives the spatial sizes. The model here is the
2021 paper's architecture, shrunk and untrained, so that it runs in a moment.
"""

import torch

import modcore
import modcore.report.plot
from modcore.nn import CNN

torch.set_num_threads(1)
model = CNN(input_shape=(1, 12, 12), channels=(8, 8, 8), dense=(16,), seed=0).eval()
net = modcore.Network.from_torch(model, input_shape=(1, 12, 12))
# Groups are named after the model's modules (here nn.Sequential's indices).
for name, size in zip(net.names, net.sizes):
    print(f"{name}: {size} units")

# %%
# The traced network is clustered like an MLP. ``eigen_method`` says whether the smaller
# bipartite problem (C Cᵀ) or the full Lanczos operator was solved.
clustering = modcore.spectral_cluster(net, n_clusters=4, seed=0)
print(f"n-cut {clustering.ncut:.4f} ({clustering.eigen_method})")
fig = modcore.report.plot.network_modules(net, clustering.labels)

# %%
# ``preset="paper_cnn"`` keeps only the conv layers' output channels, as the 2021 paper
# clustered its CNNs (no input channels, no dense units).
convs = modcore.Network.from_torch(model, input_shape=(1, 12, 12), preset="paper_cnn")
print(f"groups: {convs.names}")
print(f"n-cut {modcore.spectral_cluster(convs, n_clusters=4, seed=0).ncut:.4f}")
