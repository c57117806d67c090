/* Roofline passes for the benchmark suite: the least work any softmax-family forward pass
 * over the same logits must do.  read_sum reads every element once (memory bound);
 * read_exp_sum reads every element and takes one vector expf of it: glibc's libmvec expf,
 * the exp bound the benchmark measures cross-entropy against.  read_ownexp_sum does the
 * same with the kernels' own softmax exponential (exp_nonpositive.h, faster than libmvec),
 * over -|x| since it takes non-positive arguments.  All use the kernels' target clones.
 */
#ifndef ONNXLOSSES_ROOFLINE_H
#define ONNXLOSSES_ROOFLINE_H
#include "kernel_common.h"
#include "exp_nonpositive.h"

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

#endif
