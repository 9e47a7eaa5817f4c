// Cooperative cancellation: long loops poll a token that the caller (the Python
// binding, on Ctrl-C) may set from another thread.
#pragma once
#include <atomic>
#include <cstdint>
#include <stdexcept>

namespace modcore {

struct Cancelled : std::runtime_error {
    Cancelled() : std::runtime_error("cancelled") {}
};

class CancelToken {
public:
    void cancel() { flag_.store(true, std::memory_order_relaxed); }
    bool cancelled() const { return flag_.load(std::memory_order_relaxed); }
    void check() const {
        if (cancelled()) throw Cancelled();
    }

private:
    std::atomic<bool> flag_{false};
};

// Polls a possibly absent token.
inline void check_cancel(const CancelToken* token) {
    if (token != nullptr) token->check();
}

// Polls at every 65536th iteration i of a loop whose iterations are too cheap to
// poll each (a block's entries, a permutation's draws): a few ms between polls.
inline void check_cancel_every(const CancelToken* token, std::int64_t i) {
    if ((i & 0xFFFF) == 0) check_cancel(token);
}

}  // namespace modcore
