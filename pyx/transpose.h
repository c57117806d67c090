/* Transposing a tile between the channels-last layout and the kernels' [C][L] blocks.
 *
 * Channels-last logits (and (N, C) rows) keep a position's C classes together: a tile of L
 * positions is one contiguous [L][C] block.  The softmax loops want [C][L] (positions
 * contiguous, so they vectorise across positions).  Element by element, the copy costs
 * about as much as the loss itself (gcc builds each 16-lane vector from 16 scalar loads):
 * channels-last cross-entropy took 1.8x the time of NCHW.  With AVX-512 a block of 16
 * positions (8 in double) is moved with C gathers from L1 and C contiguous stores:
 *   rows -> tile:  vector c of the block = src[j * C + c], j = 0..15
 *   tile -> rows:  the block's 16 C outputs, in memory order, each gathered from the tile
 *                  (output f = j * C + c comes from src[c * L + j]), then stored (streamed
 *                  when the caller asks and the destination is 64-byte aligned)
 * Positions beyond the last whole block, and machines without AVX-512, take the plain loops
 * (rows_to_tile / tile_to_rows in softmax_loops_typed.h, which call these).  Only data
 * moves, so no result depends on which path ran.
 */
#ifndef ONNXLOSSES_TRANSPOSE_H
#define ONNXLOSSES_TRANSPOSE_H
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#include <immintrin.h>
#define ONNXL_HAVE_GATHER_TRANSPOSE 1

/* `next` (or NULL): the next tile's block, `next_bytes` long, prefetched a line per gather
 * while this one is moved: gathers from memory that is not in cache stall on every line
 * (the hardware prefetcher does not follow them), a prefetched block is in L1/L2. */
__attribute__((target("avx512f"))) static void rows_to_tile_avx512_f32(
        const float *src, ptrdiff_t C, ptrdiff_t L, float *dst, const char *next,
        ptrdiff_t next_bytes, ptrdiff_t *done) {
    const __m512i one = _mm512_set1_epi32(1);
    const __m512i base = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        _mm512_set1_epi32((int)C));
    ptrdiff_t i = 0, pf = next ? 0 : next_bytes;
    for (; i + 16 <= L; i += 16) {
        const float *s = src + i * C;
        __m512i idx = base;
        for (ptrdiff_t c = 0; c < C; c++) {
            _mm512_storeu_ps(dst + c * L + i, _mm512_i32gather_ps(idx, s, 4));
            idx = _mm512_add_epi32(idx, one);
            if (pf < next_bytes) {
                __builtin_prefetch(next + pf, 0, 3);
                pf += 64;
            }
        }
    }
    *done = i;
}

__attribute__((target("avx512f"))) static void rows_to_tile_avx512_f64(
        const double *src, ptrdiff_t C, ptrdiff_t L, double *dst, const char *next,
        ptrdiff_t next_bytes, ptrdiff_t *done) {
    const __m256i one = _mm256_set1_epi32(1);
    const __m256i base = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                            _mm256_set1_epi32((int)C));
    ptrdiff_t i = 0, pf = next ? 0 : next_bytes;
    for (; i + 8 <= L; i += 8) {
        const double *s = src + i * C;
        __m256i idx = base;
        for (ptrdiff_t c = 0; c < C; c++) {
            _mm512_storeu_pd(dst + c * L + i, _mm512_i32gather_pd(idx, s, 8));
            idx = _mm256_add_epi32(idx, one);
            if (pf < next_bytes) {
                __builtin_prefetch(next + pf, 0, 3);
                pf += 64;
            }
        }
    }
    *done = i;
}

/* idx[k][j] = c * L + p for output f = 16 k + j of a 16-position block, p = f / C,
 * c = f % C: the tile element each output of the block comes from. */
__attribute__((target("avx512f"))) static void tile_to_rows_avx512_f32(
        const float *src, ptrdiff_t C, ptrdiff_t L, float *dst, int stream, ptrdiff_t *done) {
    int32_t idx[C * 16];   /* C <= the kernels' class limit for this path (caller checks) */
    for (ptrdiff_t f = 0; f < 16 * C; f++) idx[f] = (int32_t)((f % C) * L + f / C);
    ptrdiff_t i = 0;
    for (; i + 16 <= L; i += 16) {
        float *d = dst + i * C;
        const int aligned = stream && ((uintptr_t)d & 63) == 0;
        for (ptrdiff_t k = 0; k < C; k++) {
            const __m512 v = _mm512_i32gather_ps(_mm512_loadu_si512(idx + 16 * k), src + i, 4);
            if (aligned) _mm512_stream_ps(d + 16 * k, v);
            else _mm512_storeu_ps(d + 16 * k, v);
        }
    }
    if (stream) _mm_sfence();
    *done = i;
}

__attribute__((target("avx512f"))) static void tile_to_rows_avx512_f64(
        const double *src, ptrdiff_t C, ptrdiff_t L, double *dst, int stream, ptrdiff_t *done) {
    int32_t idx[C * 8];
    for (ptrdiff_t f = 0; f < 8 * C; f++) idx[f] = (int32_t)((f % C) * L + f / C);
    ptrdiff_t i = 0;
    for (; i + 8 <= L; i += 8) {
        double *d = dst + i * C;
        const int aligned = stream && ((uintptr_t)d & 63) == 0;
        for (ptrdiff_t k = 0; k < C; k++) {
            const __m512d v = _mm512_i32gather_pd(
                _mm256_loadu_si256((const __m256i *)(idx + 8 * k)), src + i, 8);
            if (aligned) _mm512_stream_pd(d + 8 * k, v);
            else _mm512_storeu_pd(d + 8 * k, v);
        }
    }
    if (stream) _mm_sfence();
    *done = i;
}

static inline int onnxl_gather_transpose_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}
#else
#define ONNXL_HAVE_GATHER_TRANSPOSE 0
static inline int onnxl_gather_transpose_available(void) { return 0; }
#endif

/* The largest C the gathered transposes take: their index table lives on the stack
 * (16 C int32); the kernels send channels-last tiles here only below ROWS_MIN_CLASSES. */
#define ONNXL_TRANSPOSE_MAX_C 256

#endif
