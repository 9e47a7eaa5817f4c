"""
Planted modules are recovered
=============================

An MLP whose neurons are split into 4 groups per layer, with strong weights inside a
group and weak ones (2 % as large) across groups. Spectral clustering with k = 4 should
find exactly these groups; the adjusted Rand index against the planted partition says how
closely it did (1 is a perfect match, 0 what chance gives).
"""

import modcore
import modcore.report.plot
from modcore.network.synthetic import planted_modular_mlp

weights, planted = planted_modular_mlp((24, 20, 20, 16), 4, noise=0.02, seed=0)
clustering = modcore.spectral_cluster(weights, n_clusters=4, seed=0)
agreement = modcore.compare_partitions(planted, clustering.labels)
print(
    f"n-cut {clustering.ncut:.4f}, adjusted Rand index against the planted modules "
    f"{agreement.adjusted_rand:.3f}"
)

# %%
# The network drawn layer by layer, each unit coloured by the module it was put in. Edges
# inside a module take its colour; the few strong edges between modules are grey.
fig = modcore.report.plot.network_modules(weights, clustering.labels)

# %%
# The same result as weight matrices, rows and columns sorted by module: the planted
# structure shows as blocks on the diagonal.
fig = modcore.report.plot.sorted_weights(weights, clustering.labels)

# %%
# For comparison, the same weights shuffled within each layer (each matrix keeps its
# values, in random places) leave no modules to find: the n-cut is much higher.
shuffled = modcore.shuffled_weights(weights, shuffle="layer", seed=0, index=0)
print(
    f"shuffled network's n-cut: {modcore.spectral_cluster(shuffled, n_clusters=4, seed=0).ncut:.4f}"
)
