#include "modcore/csr.hpp"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define MODCORE_AVX2 1
#endif

namespace modcore {
namespace {

// Entry p of row lo + r: the value as stored, or scaled on both sides.
template <bool Scaled>
inline double entry(const double* val, const double* scale, double scale_r,
                    const std::int32_t* idx, Index p) {
    if constexpr (Scaled) return (val[p] * scale_r) * scale[idx[p]];
    else return val[p];
}

// Four partial sums per row: one sum would wait on each addition's latency.
template <bool Scaled>
void rows_times_plain(const Index* indptr, const std::int32_t* idx, const double* val,
                      const double* scale, Index lo, Index n, std::int32_t xlo, const double* x,
                      double* y) {
    for (Index r = 0; r < n; ++r) {
        const Index end = indptr[lo + r + 1];
        const double sr = Scaled ? scale[lo + r] : 0.0;
        Index p = indptr[lo + r];
        double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
        for (; p + 4 <= end; p += 4) {
            s0 += entry<Scaled>(val, scale, sr, idx, p) * x[idx[p] - xlo];
            s1 += entry<Scaled>(val, scale, sr, idx, p + 1) * x[idx[p + 1] - xlo];
            s2 += entry<Scaled>(val, scale, sr, idx, p + 2) * x[idx[p + 2] - xlo];
            s3 += entry<Scaled>(val, scale, sr, idx, p + 3) * x[idx[p + 3] - xlo];
        }
        for (; p < end; ++p) s0 += entry<Scaled>(val, scale, sr, idx, p) * x[idx[p] - xlo];
        y[r] = (s0 + s1) + (s2 + s3);
    }
}

#ifdef MODCORE_AVX2
// Four entries of a row from p on, scaled when asked.
template <bool Scaled>
__attribute__((target("avx2,fma"))) inline __m256d entries4(const double* val,
                                                            const double* scale, __m256d sr,
                                                            __m128i raw, Index p) {
    const __m256d v = _mm256_loadu_pd(val + p);
    if constexpr (Scaled) return _mm256_mul_pd(_mm256_mul_pd(v, sr), _mm256_i32gather_pd(scale, raw, 8));
    else return v;
}

// Eight entries per step: two 4-wide gathers of x and two FMA accumulators.
template <bool Scaled>
__attribute__((target("avx2,fma"))) void rows_times_avx2(const Index* indptr,
                                                          const std::int32_t* idx,
                                                          const double* val, const double* scale,
                                                          Index lo, Index n, std::int32_t xlo,
                                                          const double* x, double* y) {
    const __m128i shift = _mm_set1_epi32(xlo);
    for (Index r = 0; r < n; ++r) {
        const Index end = indptr[lo + r + 1];
        const double sr = Scaled ? scale[lo + r] : 0.0;
        const __m256d sr4 = _mm256_set1_pd(sr);
        Index p = indptr[lo + r];
        __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
        for (; p + 8 <= end; p += 8) {
            const __m128i r0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(idx + p));
            const __m128i r1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(idx + p + 4));
            const __m128i i0 = _mm_sub_epi32(r0, shift);
            const __m128i i1 = _mm_sub_epi32(r1, shift);
            acc0 = _mm256_fmadd_pd(entries4<Scaled>(val, scale, sr4, r0, p),
                                   _mm256_i32gather_pd(x, i0, 8), acc0);
            acc1 = _mm256_fmadd_pd(entries4<Scaled>(val, scale, sr4, r1, p + 4),
                                   _mm256_i32gather_pd(x, i1, 8), acc1);
        }
        if (p + 4 <= end) {
            const __m128i r0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(idx + p));
            const __m128i i0 = _mm_sub_epi32(r0, shift);
            acc0 = _mm256_fmadd_pd(entries4<Scaled>(val, scale, sr4, r0, p),
                                   _mm256_i32gather_pd(x, i0, 8), acc0);
            p += 4;
        }
        const __m256d acc = _mm256_add_pd(acc0, acc1);
        const __m128d half = _mm_add_pd(_mm256_castpd256_pd128(acc), _mm256_extractf128_pd(acc, 1));
        double s = _mm_cvtsd_f64(_mm_add_sd(half, _mm_unpackhi_pd(half, half)));
        for (; p < end; ++p) s += entry<Scaled>(val, scale, sr, idx, p) * x[idx[p] - xlo];
        y[r] = s;
    }
}

const bool kHasAvx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif

template <bool Scaled>
void rows_times(const Index* indptr, const std::int32_t* indices, const double* values,
                const double* scale, Index lo, Index n, std::int32_t xlo, const double* x,
                double* y) {
#ifdef MODCORE_AVX2
    if (kHasAvx2)
        return rows_times_avx2<Scaled>(indptr, indices, values, scale, lo, n, xlo, x, y);
#endif
    rows_times_plain<Scaled>(indptr, indices, values, scale, lo, n, xlo, x, y);
}

}  // namespace

void csr_rows_times(const Index* indptr, const std::int32_t* indices, const double* values,
                    const double* scale, Index lo, Index n, std::int32_t xlo, const double* x,
                    double* y) {
    if (scale != nullptr) return rows_times<true>(indptr, indices, values, scale, lo, n, xlo, x, y);
    rows_times<false>(indptr, indices, values, scale, lo, n, xlo, x, y);
}

}  // namespace modcore
