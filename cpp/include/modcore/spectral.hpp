// Spectral embedding: the top eigenvectors of the normalized adjacency
// N = D^-1/2 A D^-1/2 (the bottom of the normalized Laplacian), rows scaled by D^-1/2,
// as scikit-learn's spectral_embedding does.
#pragma once
#include <cstdint>
#include <vector>

#include "modcore/cancel.hpp"
#include "modcore/graph.hpp"
#include "modcore/limits.hpp"

namespace modcore {

// kDenseMaxNodes and kMaxLanczosVectors, the solvers' limits, are in limits.hpp.

// Graphs of this many edges or more are "large": their normalized adjacency is
// formed in each product instead of stored, the product is split among threads,
// and shuffle nulls run one shuffle at a time (see shuffle.hpp), so memory stays
// about one graph (24 bytes an edge) whatever the thread count. Stored, the
// normalized entries would take 16 bytes an edge more, 32 MiB at this size: from
// there a graph with a hundred edges a unit (a transformer's virtual view) went past
// 3x its edge storage (12 bytes an edge), its Lanczos vectors counted.
constexpr Index kLargeGraphEdges = Index{1} << 21;

enum class EigenMethod {
    Auto,       // dense for tiny graphs, else bipartite when the network is, else full
    Bipartite,  // Lanczos on C C^T over the smaller side of the bipartition
    Full,       // Lanczos on N itself (the plain form; a baseline)
    Dense       // full eigendecomposition of N (graphs of up to kDenseMaxNodes units)
};

struct SpectralOptions {
    EigenMethod method = EigenMethod::Auto;
    double tol = 1e-6;       // Spectra's relative residual tolerance
    int max_restarts = 1000;
    Index large_graph = kLargeGraphEdges;  // tests lower it to reach the large-graph code
    const CancelToken* cancel = nullptr;   // polled at every matrix-vector product
};

struct Embedding {
    Index n_rows = 0;
    Index dim = 0;
    std::vector<double> rows;          // n_rows x dim, row-major
    std::vector<double> eigenvalues;   // of N, descending, length k
    int n_components = 0;              // connected components of the graph
    std::vector<std::int32_t> component;  // per node
    EigenMethod method = EigenMethod::Auto;  // the solver used (never Auto once solved)
};

// The k-dimensional embedding. Each connected component contributes an exact
// eigenvalue 1 (its D^1/2 indicator); these are put in directly and deflated out
// of the Lanczos operator, so repeated eigenvalues 1 are never left to Lanczos.
// When the graph has k or more components, dim is 0 and only `component` is
// meaningful: every union of components has n-cut 0 (see cluster.cpp). A large
// graph's products use n_threads threads; the result does not depend on them.
//
// No seed: the result depends on the graph alone, and a relabelled graph (units
// in another order) gets the relabelled embedding up to rounding and the signs
// of columns. Lanczos starts from a vector computed from the units' order-free
// keys; where the k-th eigenvalue is repeated past the cut-off (within 1e-9; the
// dense solvers' and the bipartite null space's cases) the embedding holds a
// canonical subspace of its eigenspace, chosen by a pivoted QR of the
// eigenspace's projector, not the solver's arbitrary basis. Lanczos computes no
// eigenvalue past the k-th, so on its path a repeat at the cut-off goes unseen.
Embedding spectral_embedding(const Graph& g, int k, const SpectralOptions& opt,
                             int n_threads = 1);

// The first k columns of a wider embedding of g, n_rows x k row-major: the
// embedding at k (the top eigenvectors nest). Where the k-th eigenvalue is
// repeated past k inside the embedding, those columns become a canonical subspace
// of the repeated eigenvalue's columns, as spectral_embedding does at its own cut-off.
std::vector<double> embedding_columns(const Graph& g, const Embedding& emb, int k);

// The top nev eigenpairs of N below its eigenvalues 1 of the connected components,
// i.e. the nev smallest non-trivial eigenvalues 1 - value of the normalized
// Laplacian I - N, for training-time regularizers (modcore.nn.regularizers); fewer
// (n_nodes minus the components) when the graph has no more.
// `vectors` are unit eigenvectors of N over the live nodes (not scaled by
// D^-1/2), orthogonal to the components' D^1/2 indicators; where the nev-th
// eigenvalue is repeated past the cut-off they hold a canonical subspace of its
// eigenspace (as spectral_embedding). `warm` (n_nodes x n_warm, row-major, or
// null): eigenvectors of a nearby graph on the same nodes (the previous training
// step's), whose sum starts Lanczos; the result is the same eigenpairs to the
// tolerance, reached in fewer products.
struct Eigenpairs {
    std::vector<double> values;   // of N, descending, length min(nev, n_nodes - components)
    std::vector<double> vectors;  // n_nodes x values.size(), row-major
    int n_components = 0;
    EigenMethod method = EigenMethod::Auto;
};

Eigenpairs nontrivial_eigenpairs(const Graph& g, int nev, const SpectralOptions& opt,
                                 const double* warm = nullptr, int n_warm = 0,
                                 int n_threads = 1);

}  // namespace modcore
