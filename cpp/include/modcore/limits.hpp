#pragma once
// The limits on the clustering parameters and on the eigensolvers, defined once: the C++
// checks and their messages use them, _core exposes them (MAX_CLUSTERS, ...), and
// modcore.method.settings reads them from there for the Python checks, the CLI's types
// and the docs, so that every message states the same limit.
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

namespace modcore {

// Bounds that keep every value inside the C++ int range with room to spare; the real
// limits (k <= live units, ...) are checked against the network itself.
inline constexpr int kMaxClusters = std::numeric_limits<std::int32_t>::max();
inline constexpr int kMaxInit = 100000;
inline constexpr int kMaxIter = 10000000;

// Largest graph decomposed densely (N itself, or C C^T of a bipartite graph's
// smaller side): Eigen's solver cannot poll a cancel token, and this size takes
// about a second; the time grows as n^3.
inline constexpr std::int64_t kDenseMaxNodes = 1000;

// Most eigenvectors asked of Lanczos: its Krylov space is twice as wide, and
// Spectra's dense steps on it (which cannot poll the cancel token) grow as its
// cube, about half a second here.
inline constexpr int kMaxLanczosVectors = 500;

// `name` must be in [low, high]: the message is worded as modcore's Python check
// (modcore.network.checks.check_positive_int) words it.
inline void check_range(const char* name, long long value, long long low, long long high) {
    if (value < low)
        throw std::invalid_argument(std::string(name) + " must be >= " + std::to_string(low) +
                                    ", got " + std::to_string(value));
    if (value > high)
        throw std::invalid_argument(std::string(name) + " must be <= " + std::to_string(high) +
                                    ", got " + std::to_string(value));
}

}  // namespace modcore
