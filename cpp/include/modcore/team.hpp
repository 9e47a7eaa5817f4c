// Threads for many short parallel steps (the rows of one sparse product, a few
// hundred times per eigensolve) that sleep between steps. An OpenMP team
// spin-waits there instead: measured on a 2-core machine with one core busy
// elsewhere, two threads then took 7.5x the time of one on a 1e6-edge null, as
// the spinning thread burned the core its partner was waiting for. Here a step's
// parts go to whichever thread is free, so a thread the OS has paused holds up
// nothing: at worst the caller does every part itself.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace modcore {

class Team {
public:
    // The caller and n_threads - 1 helpers.
    explicit Team(int n_threads);
    ~Team();
    Team(const Team&) = delete;
    Team& operator=(const Team&) = delete;

    int size() const { return static_cast<int>(helpers_.size()) + 1; }

    // Calls part(p) once for each p in [0, n_parts), on the caller and the
    // helpers; returns when all are done. part must not throw.
    void run(int n_parts, const std::function<void(int)>& part);

private:
    void help();
    // Takes and runs parts of the current step until none is left.
    void work();

    std::vector<std::thread> helpers_;
    std::mutex mutex_;
    std::condition_variable wake_, finished_;
    const std::function<void(int)>* part_ = nullptr;
    std::uint64_t step_ = 0;
    int n_parts_ = 0, next_ = 0, done_ = 0;
    bool stop_ = false;
};

}  // namespace modcore
