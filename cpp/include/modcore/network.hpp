// A network as unit groups joined by blocks of weights, and the ways its non-zero
// entries are read: stored (Network), from the caller's arrays in place
// (InputEdges), or generated on the fly (ShuffledEdges in shuffle.hpp). Whoever
// reads a network more than once (the graph build counts, then fills) reads it
// through EdgeSource, so no copy of it is needed.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "modcore/cancel.hpp"
#include "modcore/pages.hpp"

namespace modcore {

using Index = std::int64_t;

// A dense block in caller-owned, C-contiguous memory (numpy), read in place.
struct WeightView {
    const void* data = nullptr;
    bool is_float32 = false;

    double at(Index flat) const {
        return is_float32 ? static_cast<const float*>(data)[flat]
                          : static_cast<const double*>(data)[flat];
    }
};

// Where a block sits: rows are the units of group src, columns those of group
// dst. A block from a group to itself (triangle) is a symmetric adjacency stored
// as its strict upper triangle, row < col.
struct BlockShape {
    std::int32_t src = 0;
    std::int32_t dst = 0;
    Index rows = 0;
    Index cols = 0;
    bool triangle = false;

    // Positions a "layer" shuffle may use.
    Index n_positions() const { return triangle ? rows * (rows - 1) / 2 : rows * cols; }
};

// The non-zero entries of one block: flat position row * cols + col and the
// signed value (the graph uses |w|; the shuffle nulls fit the signed values).
struct BlockEdges : BlockShape {
    std::vector<Index> pos;
    std::vector<double> val;
};

struct Network {
    std::vector<Index> group_sizes;
    std::vector<BlockEdges> blocks;
};

// Input description of one block: dense (view.data set) or sorted unique flat
// positions with values (pos/val set, n entries).
struct BlockInput : BlockShape {
    WeightView dense;
    const std::int64_t* pos = nullptr;
    const double* val = nullptr;
    Index n = 0;
};

// take(positions, values, n): the next n entries of a block, in order.
using TakeEntries = std::function<void(const Index*, const double*, std::size_t)>;

// A network's entries, block by block, each block always in the same order.
class EdgeSource {
public:
    virtual ~EdgeSource() = default;
    virtual const std::vector<Index>& group_sizes() const = 0;
    virtual std::size_t n_blocks() const = 0;
    virtual const BlockShape& shape(std::size_t b) const = 0;
    // Entries of block b (a generated source may emit a value 0; readers skip it).
    virtual Index n_entries(std::size_t b) const = 0;
    // The largest |value| over all blocks.
    virtual double max_abs() const = 0;
    // Calls take on consecutive runs of block b's entries until all are given.
    virtual void read(std::size_t b, const TakeEntries& take, const CancelToken* cancel) const = 0;

    Index total_entries() const;
};

// A Network in memory, read as it is stored.
class NetworkEdges : public EdgeSource {
public:
    explicit NetworkEdges(const Network& net);
    const std::vector<Index>& group_sizes() const override { return net_.group_sizes; }
    std::size_t n_blocks() const override { return net_.blocks.size(); }
    const BlockShape& shape(std::size_t b) const override { return net_.blocks[b]; }
    Index n_entries(std::size_t b) const override {
        return static_cast<Index>(net_.blocks[b].pos.size());
    }
    double max_abs() const override { return max_abs_; }
    void read(std::size_t b, const TakeEntries& take, const CancelToken* cancel) const override;

private:
    const Network& net_;
    double max_abs_ = 0.0;
};

// The caller's blocks (dense arrays or sorted positions), read in place: checked
// once on construction (shapes, finite values, sorted unique positions inside the
// block, triangles above the diagonal), then each read gives the non-zeros.
class InputEdges : public EdgeSource {
public:
    InputEdges(std::vector<Index> group_sizes, std::vector<BlockInput> blocks,
               const CancelToken* cancel = nullptr);
    const std::vector<Index>& group_sizes() const override { return sizes_; }
    std::size_t n_blocks() const override { return blocks_.size(); }
    const BlockShape& shape(std::size_t b) const override { return blocks_[b]; }
    Index n_entries(std::size_t b) const override { return nnz_[b]; }
    double max_abs() const override { return max_abs_; }
    void read(std::size_t b, const TakeEntries& take, const CancelToken* cancel) const override;

private:
    std::vector<Index> sizes_;
    std::vector<BlockInput> blocks_;
    std::vector<Index> nnz_;
    double max_abs_ = 0.0;
};

// The entries of a source stored as a Network.
Network materialize(const EdgeSource& src, const CancelToken* cancel = nullptr);

// The values of block b, in order.
PageVector<double> block_values(const EdgeSource& src, std::size_t b, const CancelToken* cancel);

}  // namespace modcore
