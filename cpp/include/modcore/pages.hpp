// Storage for large temporary arrays, mapped straight from the OS and returned
// to it when freed. malloc keeps memory that a thread frees at the top of that
// thread's arena (up to 64 MiB once its thresholds have grown), where it still
// counts in the process's resident set: the per-block buffers of a generated
// shuffle, freed before the eigensolve, would otherwise stay resident through it.
#pragma once
#include <cstddef>
#include <new>
#include <vector>

#if defined(__unix__) && !defined(__SANITIZE_ADDRESS__)
#include <sys/mman.h>
#define MODCORE_MMAP 1
#endif

namespace modcore {

template <class T>
struct PageAllocator {
    using value_type = T;
    // Smaller arrays come from operator new (so do all under AddressSanitizer,
    // which then checks them).
    static constexpr std::size_t kMappedBytes = std::size_t{1} << 20;

    PageAllocator() = default;
    template <class U>
    PageAllocator(const PageAllocator<U>&) noexcept {}

    T* allocate(std::size_t n) {
        const std::size_t bytes = n * sizeof(T);
#ifdef MODCORE_MMAP
        if (bytes >= kMappedBytes) {
            void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                           -1, 0);
            if (p == MAP_FAILED) throw std::bad_alloc();
            return static_cast<T*>(p);
        }
#endif
        return static_cast<T*>(::operator new(bytes));
    }

    void deallocate(T* p, std::size_t n) noexcept {
#ifdef MODCORE_MMAP
        if (n * sizeof(T) >= kMappedBytes) {
            munmap(p, n * sizeof(T));
            return;
        }
#endif
        (void)n;
        ::operator delete(p);
    }
};

template <class T, class U>
bool operator==(const PageAllocator<T>&, const PageAllocator<U>&) {
    return true;
}
template <class T, class U>
bool operator!=(const PageAllocator<T>&, const PageAllocator<U>&) {
    return false;
}

template <class T>
using PageVector = std::vector<T, PageAllocator<T>>;

}  // namespace modcore
