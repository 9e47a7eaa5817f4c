#include "modcore/team.hpp"

namespace modcore {

Team::Team(int n_threads) {
    for (int t = 1; t < n_threads; ++t) helpers_.emplace_back([this] { help(); });
}

Team::~Team() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : helpers_) t.join();
}

void Team::run(int n_parts, const std::function<void(int)>& part) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        part_ = &part;
        n_parts_ = n_parts;
        next_ = done_ = 0;
        ++step_;
    }
    wake_.notify_all();
    work();
    std::unique_lock<std::mutex> lock(mutex_);
    finished_.wait(lock, [&] { return done_ == n_parts_; });
}

void Team::help() {
    std::uint64_t seen = 0;
    for (;;) {
        {
            std::unique_lock<std::mutex> lock(mutex_);
            wake_.wait(lock, [&] { return stop_ || step_ != seen; });
            if (stop_) return;
            seen = step_;
        }
        work();
    }
}

void Team::work() {
    for (;;) {
        const std::function<void(int)>* part;
        int p;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (next_ >= n_parts_) return;
            part = part_;
            p = next_++;
        }
        (*part)(p);
        std::lock_guard<std::mutex> lock(mutex_);
        if (++done_ == n_parts_) finished_.notify_all();
    }
}

}  // namespace modcore
