"""What top_k does to the n-cut of a transformer's virtual graph.

    python benchmarks/transformer_top_k.py [--quick] [--shuffles N]

A randomly initialised Hugging Face GPT-2 (4 blocks, d_model 64, 4 heads, d_mlp 256,
vocabulary 256, 32 positions; seed 0) read with modcore.network.transformer.virtual_network
at top_k = all, 128, 32, 8, 2; for each, the edges kept, the n-cut at k = 12 and its
'layer' null (mean, std, z). One thread.
"""

import argparse

import torch

import modcore
import modcore.network.transformer as mt
from modcore.nn.gpt2 import gpt2_model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 shuffles")
    parser.add_argument("--shuffles", type=int, default=200)
    args = parser.parse_args()
    shuffles = 20 if args.quick else args.shuffles
    torch.set_num_threads(1)
    model = gpt2_model(
        n_layer=4, n_embd=64, n_head=4, n_inner=256, vocab_size=256, n_positions=32
    ).eval()
    print(
        f"GPT-2 {model.config.n_layer} blocks, d_model {model.config.n_embd}, k = 12, "
        f"{shuffles} 'layer' shuffles"
    )
    print(f"{'top_k':>6s} {'edges':>9s} {'n-cut':>8s} {'mean':>8s} {'std':>7s} {'z':>7s} {'p':>6s}")
    for top_k in (None, 128, 32, 8, 2):
        net = mt.virtual_network(model, top_k=top_k)
        edges = sum(b.nnz for b in net.blocks)
        sig = modcore.ncut_significance(
            net, n_clusters=12, n_shuffles=shuffles, seed=0, n_jobs=1, progress=False
        )
        print(
            f"{'all' if top_k is None else top_k:>6} {edges:9d} {sig.ncut:8.4f} "
            f"{sig.shuffled_mean:8.4f} {sig.shuffled_std:7.4f} {sig.z_score:7.2f} "
            f"{sig.p_value:6.3f}"
        )


if __name__ == "__main__":
    main()
