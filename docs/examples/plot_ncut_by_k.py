"""
n-cut against k
===============

Which k? :func:`modcore.ncut_curve` clusters the network and its shuffles at every k of
a range from one eigensolve per network (the top eigenvectors nest), and gives the z-score
and p-value per k. :func:`modcore.eigengap` suggests a k from the normalized Laplacian's
spectrum, compared with that of shuffled networks.
"""

import modcore
import modcore.report.plot
from modcore.network.synthetic import planted_modular_mlp

# 5 planted modules per layer; weights across modules are 5 % of those inside.
weights, _ = planted_modular_mlp((24, 24, 24, 24), 5, noise=0.05, seed=0)
curve = modcore.ncut_curve(weights, ks=range(2, 11), n_shuffles=50, seed=0, progress=False)
for k, ncut, z in zip(curve.ks, curve.ncut, curve.z_score):
    print(f"k = {k:2d}: n-cut {ncut:.3f}, z = {z:6.1f}")

# %%
# The n-cut divided by k against the central 95 % of the shuffles; below, z per k.
fig = modcore.report.plot.ncut_by_k(curve)

# %%
# The eigengap heuristic on the same network: the 5 planted modules give the largest
# relative gap of the normalized Laplacian's spectrum, at k = 5, and the z-score is
# most negative there too.
gap = modcore.eigengap(weights, max_k=10, seed=0)
print(f"suggested k = {gap.k}")
