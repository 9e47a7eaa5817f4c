#pragma once
#include <algorithm>
#include <cstddef>
#include <vector>

#include "modcore/network.hpp"

namespace modcore {

// Units with edges, each with a slot for the values its user keeps per unit (the graph
// build: an edge count, then a node id; the rescaling: a factor). A table over every
// declared unit when the network has the entries to pay for one; otherwise the sorted
// list of edge endpoints, so that memory follows the edges: units declared but never
// joined (2^31 of them around 8 edges) cost nothing.
class LiveUnits {
public:
    // Sized from the entries' count; `endpoints(take)` calls take(unit) for both ends
    // of every edge (the first read of the network).
    template <class Endpoints>
    LiveUnits(Index n_all, Index n_entries, Endpoints endpoints)
        : table_(n_all <= 2 * n_entries + kSmall) {
        if (table_) {
            count_.assign(n_all, 0);
            endpoints([&](Index v) { ++count_[v]; });
            n_slots_ = n_all;
            return;
        }
        units_.reserve(2 * n_entries);
        endpoints([&](Index v) { units_.push_back(v); });
        std::sort(units_.begin(), units_.end());
        std::size_t n = 0;  // runs of equal units -> (unit, count)
        for (std::size_t i = 0; i < units_.size(); ++n) {
            std::size_t j = i;
            while (j < units_.size() && units_[j] == units_[i]) ++j;
            units_[n] = units_[i];
            count_.push_back(static_cast<Index>(j - i));
            i = j;
        }
        units_.resize(n);
        units_.shrink_to_fit();
        n_slots_ = static_cast<Index>(n);
    }

    // Calls f(unit, slot) for the units in [lo, hi) with an edge, in unit order.
    template <class F>
    void each_in(Index lo, Index hi, F f) const {
        if (table_) {
            for (Index v = lo; v < hi; ++v)
                if (count_[v] > 0) f(v, v);
            return;
        }
        auto it = std::lower_bound(units_.begin(), units_.end(), lo);
        for (; it != units_.end() && *it < hi; ++it) f(*it, it - units_.begin());
    }

    // The slot of unit v; -1 when it has no edge and the units are listed (a table's
    // slot is the unit: its value says whether it has edges).
    Index slot(Index v) const {
        if (table_) return v;
        auto it = std::lower_bound(units_.begin(), units_.end(), v);
        return it != units_.end() && *it == v ? it - units_.begin() : -1;
    }

    Index n_slots() const { return n_slots_; }
    Index count(Index slot) const { return count_[slot]; }
    void forget_counts() { std::vector<Index>().swap(count_); }

private:
    static constexpr Index kSmall = Index{1} << 16;
    bool table_;
    Index n_slots_ = 0;
    std::vector<Index> units_;  // without the table: the units with edges, sorted
    std::vector<Index> count_;  // per slot: edges of the unit
};

}  // namespace modcore
