/* Roofline passes for the benchmark suite: the least work any softmax-family forward pass
 * over the same logits must do.  read_sum reads every element once (memory bound);
 * read_exp_sum reads every element and takes one vector expf of it: glibc's libmvec expf,
 * the exp bound the benchmark measures cross-entropy against.  read_ownexp_sum does the
 * same with the kernels' own softmax exponential (exp_nonpositive.h, faster than libmvec),
 * over -|x| since it takes non-positive arguments.  All use the kernels' target clones.
 * read_write copies x to y through a 4 KiB buffer that stays in L1, with the kernels' store
 * path (stream_store.h: streaming on AVX-512 when asked, plain stores otherwise): the
 * least a value-and-gradient pass must do, read every logit and write every gradient.
 */
#ifndef ONNXLOSSES_ROOFLINE_H
#define ONNXLOSSES_ROOFLINE_H
#include "kernel_common.h"
#include "exp_nonpositive.h"
#include "stream_store.h"

static ONNXL_CLONES double roofline_sum_f32(const float *x, ptrdiff_t n) {
    float s = 0;
    _Pragma("omp simd reduction(+:s)") for (ptrdiff_t i = 0; i < n; i++) s += x[i];
    return s;
}

static ONNXL_CLONES double roofline_exp_sum_f32(const float *x, ptrdiff_t n) {
    float s = 0;
    _Pragma("omp simd reduction(+:s)") for (ptrdiff_t i = 0; i < n; i++) s += expf(x[i]);
    return s;
}

static ONNXL_CLONES ONNXL_CONTRACT double roofline_ownexp_sum_f32(const float *x, ptrdiff_t n) {
    float s = 0;
    _Pragma("omp simd reduction(+:s)") for (ptrdiff_t i = 0; i < n; i++)
        s += onnxl_exp_nonpos(-fabsf(x[i]));
    return s;
}

static ONNXL_CLONES double roofline_read_write_f32(const float *x, ptrdiff_t n, float *y,
                                                  int stream) {
    float buf[1024], s = 0;
    for (ptrdiff_t i0 = 0; i0 < n; i0 += 1024) {
        const ptrdiff_t m = n - i0 < 1024 ? n - i0 : 1024;
        ONNXL_SIMD for (ptrdiff_t i = 0; i < m; i++) buf[i] = x[i0 + i];
        if (stream) onnxl_stream_copy(y + i0, buf, (size_t)m * sizeof(float));
        else memcpy(y + i0, buf, (size_t)m * sizeof(float));
        s += buf[0];
    }
    if (stream) onnxl_stream_fence();
    return s;
}

#endif
