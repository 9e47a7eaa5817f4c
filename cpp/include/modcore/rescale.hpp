// The authors' PyTorch port's function-preserving rescaling (normalize_weights in
// nn-clustering-pytorch): every hidden unit's incoming weights get unit L2 norm and
// its outgoing weights carry the factor, which a ReLU network's function does not see.
#pragma once
#include "modcore/cancel.hpp"
#include "modcore/graph.hpp"

namespace modcore {

// Added to each norm, as the port does, so a unit without incoming weight divides by it.
constexpr double kRescaleEps = 1e-5;

// Groups in index order; a group is hidden when some block enters it and some
// block leaves it (a chain's layers other than the first and the last). For each
// hidden group g, unit j gets s_j = ||incoming weights of j||_2 + kRescaleEps, over
// every block into g with the factors of the groups before g already applied
// (so layer by layer, as the port does); then each entry w of a block from unit i
// to unit j becomes w * s_i / s_j (s = 1 for units of other groups). Values stay
// signed; zeros stay zero. Throws for a block from a group to itself (an
// undirected adjacency has no incoming side) and when a value overflows.
void rescale_units(Network& net, const CancelToken* cancel = nullptr);

}  // namespace modcore
