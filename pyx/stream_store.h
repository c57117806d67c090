/* Writing a finished gradient tile out to a large destination with non-temporal stores.
 *
 * A plain store to a cache line that is not in cache first reads the line from memory (a
 * "read for ownership"), so writing a gradient the size of the logits moves it through
 * memory twice.  Streaming stores write whole lines without reading them.  Measured on this
 * project's AVX-512 machine (2 cores), reading 176 MB and writing 176 MB: 11.6 ms with plain
 * stores, 6.4 ms streaming; on the AVX2 (AMD EPYC) machine streaming was slower (20 vs
 * 17 ms), so only the AVX-512 path streams, and only for destinations far larger than any
 * cache (onnxlosses._gradient_stores.STREAM_MIN_BYTES, decided per call in Python): a
 * gradient that fits in cache is better left there for whatever reads it next.
 *
 * The kernels build each tile's gradient in per-thread scratch (cross-entropy's in place of
 * the tile's exponentials), then copy it out
 * with onnxl_stream_copy: unaligned head and tail bytes by plain stores, the 64-byte-aligned
 * middle by streaming ones.  onnxl_stream_fence() after a tile orders the streaming stores
 * before anything later (OpenMP's barrier is a full fence too).
 */
#ifndef ONNXLOSSES_STREAM_STORE_H
#define ONNXLOSSES_STREAM_STORE_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx512f"))) static void onnxl_stream_copy_avx512(
        void *dst, const void *src, size_t n) {
    char *d = (char *)dst;
    const char *s = (const char *)src;
    size_t head = (64 - ((uintptr_t)d & 63)) & 63;
    if (head > n) head = n;
    memcpy(d, s, head);
    d += head;
    s += head;
    n -= head;
    for (; n >= 64; n -= 64, d += 64, s += 64)
        _mm512_stream_si512((__m512i *)d, _mm512_loadu_si512((const void *)s));
    memcpy(d, s, n);
}

/* Whether this CPU takes the streaming path (AVX-512). */
static inline int onnxl_stream_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

/* Streams where the CPU can, a plain copy elsewhere (so the scratch-and-copy path is the
 * same, and tested, on every machine). */
static inline void onnxl_stream_copy(void *dst, const void *src, size_t n) {
    if (onnxl_stream_available()) onnxl_stream_copy_avx512(dst, src, n);
    else memcpy(dst, src, n);
}

static inline void onnxl_stream_fence(void) { _mm_sfence(); }

#else
static inline int onnxl_stream_available(void) { return 0; }
static inline void onnxl_stream_copy(void *dst, const void *src, size_t n) {
    memcpy(dst, src, n);
}
static inline void onnxl_stream_fence(void) {}
#endif

#endif
