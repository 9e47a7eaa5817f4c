#include "modcore/network.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace modcore {
namespace {

// Entries handed to a reader at a time when they are gathered from a dense block.
constexpr std::size_t kChunk = 4096;

std::string block_name(std::size_t b) { return "block " + std::to_string(b); }

void check_block_shape(const BlockInput& in, std::size_t b, const std::vector<Index>& sizes) {
    const Index n_groups = static_cast<Index>(sizes.size());
    if (in.src < 0 || in.src >= n_groups || in.dst < 0 || in.dst >= n_groups)
        throw std::invalid_argument(block_name(b) + " joins a group outside [0, " +
                                    std::to_string(n_groups) + ")");
    if (in.rows != sizes[in.src] || in.cols != sizes[in.dst])
        throw std::invalid_argument(block_name(b) + " has shape (" + std::to_string(in.rows) +
                                    ", " + std::to_string(in.cols) + "), expected (" +
                                    std::to_string(sizes[in.src]) + ", " +
                                    std::to_string(sizes[in.dst]) + ")");
    if (in.triangle != (in.src == in.dst))
        throw std::invalid_argument(block_name(b) + ": a block from a group to itself, and only "
                                    "such a block, is stored as an upper triangle");
    if (in.dense.data != nullptr && in.triangle)
        throw std::invalid_argument(block_name(b) + ": a triangle block must be sparse");
}

// Walks block b's entries in order, checking each (finite values; sorted, unique
// positions inside the block; triangles above the diagonal), and calls
// nonzero(position, value) for each non-zero. The one walk both the check on
// construction and every later read go through.
template <class OnNonzero>
void walk_block(const BlockInput& in, std::size_t b, const CancelToken* cancel,
                OnNonzero nonzero) {
    auto check = [&](Index p, double v) {
        if (!std::isfinite(v))
            throw std::invalid_argument(block_name(b) + " contains NaN or infinity");
        if (v != 0.0) nonzero(p, v);
    };
    if (in.dense.data != nullptr) {
        const Index size = in.rows * in.cols;
        for (Index k = 0; k < size; ++k) {
            check_cancel_every(cancel, k);
            check(k, in.dense.at(k));
        }
        return;
    }
    const Index cols = std::max<Index>(in.cols, 1);
    Index last = -1;
    for (Index k = 0; k < in.n; ++k) {
        check_cancel_every(cancel, k);
        const Index p = in.pos[k];
        const Index r = p / cols, c = p % cols;
        if (p <= last || r >= in.rows)
            throw std::invalid_argument(block_name(b) +
                                        ": positions must be sorted, unique and inside the block");
        if (in.triangle && r >= c)
            throw std::invalid_argument(block_name(b) + ": a triangle block holds row < col only");
        last = p;
        check(p, in.val[k]);
    }
}

}  // namespace

Index EdgeSource::total_entries() const {
    Index total = 0;
    for (std::size_t b = 0; b < n_blocks(); ++b) total += n_entries(b);
    return total;
}

NetworkEdges::NetworkEdges(const Network& net) : net_(net) {
    for (const BlockEdges& e : net.blocks)
        for (double v : e.val) max_abs_ = std::max(max_abs_, std::fabs(v));
}

void NetworkEdges::read(std::size_t b, const TakeEntries& take, const CancelToken*) const {
    const BlockEdges& e = net_.blocks[b];
    if (!e.pos.empty()) take(e.pos.data(), e.val.data(), e.pos.size());
}

InputEdges::InputEdges(std::vector<Index> group_sizes, std::vector<BlockInput> blocks,
                       const CancelToken* cancel)
    : sizes_(std::move(group_sizes)), blocks_(std::move(blocks)) {
    if (sizes_.empty()) throw std::invalid_argument("the network has no groups of units");
    for (Index s : sizes_)
        if (s < 1) throw std::invalid_argument("every group needs at least one unit");
    for (std::size_t b = 0; b < blocks_.size(); ++b) {
        check_block_shape(blocks_[b], b, sizes_);
        Index nnz = 0;
        walk_block(blocks_[b], b, cancel, [&](Index, double v) {
            ++nnz;
            max_abs_ = std::max(max_abs_, std::fabs(v));
        });
        nnz_.push_back(nnz);
    }
}

// The arrays are the caller's and are read without the GIL, more than once: each read
// checks them again and must find the entries the construction counted, so a write
// from another thread between reads is an error here, never a fill past what a
// reader sized by n_entries() allocated.
void InputEdges::read(std::size_t b, const TakeEntries& take, const CancelToken* cancel) const {
    const BlockInput& in = blocks_[b];
    std::vector<Index> pos(kChunk);
    std::vector<double> val(kChunk);
    std::size_t n = 0;
    Index seen = 0;
    auto changed = [&](const std::string& what) {
        return std::runtime_error(block_name(b) +
                                  " changed while modcore read it (written by another thread?): " +
                                  what);
    };
    try {
        walk_block(in, b, cancel, [&](Index p, double v) {
            if (++seen > nnz_[b] || std::fabs(v) > max_abs_)
                throw changed("its non-zero entries are not those it was checked with");
            pos[n] = p;
            val[n] = v;
            if (++n == kChunk) {
                take(pos.data(), val.data(), n);
                n = 0;
            }
        });
    } catch (const std::invalid_argument& e) {
        throw changed(e.what());
    }
    if (seen != nnz_[b]) throw changed("it has fewer non-zero entries than it was checked with");
    if (n > 0) take(pos.data(), val.data(), n);
}

Network materialize(const EdgeSource& src, const CancelToken* cancel) {
    Network net;
    net.group_sizes = src.group_sizes();
    net.blocks.resize(src.n_blocks());
    for (std::size_t b = 0; b < src.n_blocks(); ++b) {
        BlockEdges& e = net.blocks[b];
        static_cast<BlockShape&>(e) = src.shape(b);
        e.pos.reserve(src.n_entries(b));
        e.val.reserve(src.n_entries(b));
        src.read(
            b,
            [&](const Index* pos, const double* val, std::size_t n) {
                e.pos.insert(e.pos.end(), pos, pos + n);
                e.val.insert(e.val.end(), val, val + n);
            },
            cancel);
    }
    return net;
}

PageVector<double> block_values(const EdgeSource& src, std::size_t b, const CancelToken* cancel) {
    PageVector<double> out;
    out.reserve(src.n_entries(b));
    src.read(
        b, [&](const Index*, const double* val, std::size_t n) { out.insert(out.end(), val, val + n); },
        cancel);
    return out;
}

}  // namespace modcore
