"""Solver settings that visibly change a null, for tests that a setting reaches the shuffles.

On ``random_pruned_mlp((60, 50, 40, 10), sparsity=0.7, seed=0)`` and on the sweep tests'
small nets, with few shuffles: one Lloyd step changes the k-means result, and a loose
Lanczos tolerance changes the "full" solver's eigenvectors while "dense" ignores it; k-means
labels differ from cluster_qr's, refined labels from unrefined ones, and the restart with
the lowest n-cut from the one with the lowest inertia, rescaled weights from the weights
as given. So each pair (with the setting,
without it) gives different shuffled n-cuts, and a code path that dropped the setting
would give equal ones.
"""

KMEANS = {"assign_labels": "kmeans"}
# (setting, keywords with it, keywords without it)
REACH = [
    ("max_iter", {**KMEANS, "max_iter": 1}, KMEANS),
    ("tol", {"eigen_method": "full", "tol": 0.5}, {"eigen_method": "full"}),
    ("eigen_method", {"eigen_method": "full", "tol": 0.5}, {"eigen_method": "dense", "tol": 0.5}),
    ("assign_labels", KMEANS, {}),
    ("refine", {"refine": False}, {}),
    ("select_by", {**KMEANS, "select_by": "ncut"}, KMEANS),
    ("normalize", {"normalize": "rescale"}, {}),
]
IDS = [name for name, _, _ in REACH]
