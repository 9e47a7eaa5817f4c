"""Check that modcore comes from this interpreter's environment and that its compiled core works.

    python /path/to/.ci/check_installed.py CHECKOUT

Run it from outside the checkout with the interpreter of the environment under test: modcore
must import from that environment, not from CHECKOUT, and find a planted 3-module network's
modules, more modular than every one of 20 "layer" shuffles (p = 1/21).
"""

import os
import sys

import modcore
from modcore.network.synthetic import planted_modular_mlp


def inside(path, folder):
    return os.path.commonpath([path, folder]) == folder


def main(checkout):
    env = os.path.realpath(sys.prefix)
    for module in (modcore, modcore._core):
        where = os.path.realpath(module.__file__)
        if not inside(where, env) or inside(where, os.path.realpath(checkout)):
            sys.exit(
                f"{module.__name__} imports from {where}: expected inside {env}, "
                f"outside the checkout {checkout}"
            )
    weights, groups = planted_modular_mlp((12, 18, 18, 6), n_modules=3, seed=0)
    found = modcore.spectral_cluster(weights, n_clusters=3, seed=0).labels
    pairs = {(int(g), int(f)) for gs, fs in zip(groups, found) for g, f in zip(gs, fs)}
    if len(pairs) != 3:
        sys.exit(
            f"the planted 3 modules were not recovered: (planted, found) pairs {sorted(pairs)}"
        )
    p = modcore.ncut_significance(weights, n_clusters=3, n_shuffles=20, seed=0).p_value
    if p != 1 / 21:
        sys.exit(f"the planted network should beat all 20 shuffles (p = 1/21), got p = {p}")
    print(
        f"modcore {modcore.__version__} from {os.path.dirname(modcore.__file__)}: "
        f"planted modules found, p = 1/21"
    )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
