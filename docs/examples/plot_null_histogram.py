"""
Is the network more modular than its shuffles?
===============================================

The n-cut of one network means little on its own: it grows with k and depends on the
layer sizes and the weights' distribution. modcore compares it with the n-cuts of
networks whose weights are shuffled within each layer (the null). Here, a planted modular
network with some noise against 300 "layer" and 300 "layer_nonzero" shuffles.
"""

import modcore
import modcore.report.plot
from modcore.network.synthetic import planted_modular_mlp, prune_by_magnitude

weights, _ = planted_modular_mlp((30, 24, 24, 12), 3, noise=0.3, seed=1)
# Prune 70 % of each matrix by magnitude, as a trained and pruned network would be.
weights = [prune_by_magnitude(w, 0.7) for w in weights]

layer = modcore.ncut_significance(
    weights, n_clusters=3, n_shuffles=300, shuffle="layer", seed=0, progress=False
)
print(
    f"n-cut {layer.ncut:.4f}; shuffles {layer.shuffled_mean:.4f} ± {layer.shuffled_std:.4f};"
    f" z = {layer.z_score:.1f}, p = {layer.p_value:.4f}"
)

# %%
# p = (1 + #{shuffled n-cut <= n-cut}) / (N + 1), so with 300 shuffles the smallest
# p-value is 1/301. z = (n-cut − mean) / std of the shuffled n-cuts.
fig = modcore.report.plot.null_histogram(layer)

# %%
# The "layer_nonzero" null keeps each layer's sparsity pattern and shuffles only the
# non-zero values among the non-zero positions: it asks whether the modules come from
# more than which weights were pruned.
nonzero = modcore.ncut_significance(
    weights, n_clusters=3, n_shuffles=300, shuffle="layer_nonzero", seed=0, progress=False
)
print(f"layer_nonzero: z = {nonzero.z_score:.1f}, p = {nonzero.p_value:.4f}")
fig = modcore.report.plot.null_histogram(nonzero)
