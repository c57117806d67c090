# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Accuracy checks of the kernels' own float functions (pyx/math_check.h), for the tests
and for exhaustive runs by hand:

    scan("exp", 0x80000000, 0xff800000)     every non-positive float (about 40 s, 2 cores)
    scan("log1p", 0x00000000, 0x3f800000)   every float in [0, 1] (about 15 s)
    scan("exp_for_sum", 0x80000000, 0xff800000)   the softmax sums' exp (0 below 2^-126)

(Times on the 2-core AVX2 machine; the AVX-512 one takes about 5 s for each exp scan.)
"""
import numpy as np
from cython.parallel cimport prange
from libc.stdint cimport uint32_t, int64_t

cdef extern from "math_check.h" nogil:
    void exp_check_clone(uint32_t lo, uint32_t hi, uint32_t step, double *worst_ulp,
                         uint32_t *worst_bits, int64_t *nan_lost)
    void exp_check_baseline(uint32_t lo, uint32_t hi, uint32_t step, double *worst_ulp,
                            uint32_t *worst_bits, int64_t *nan_lost)
    void exp_for_sum_check_clone(uint32_t lo, uint32_t hi, uint32_t step, double *worst_ulp,
                                 uint32_t *worst_bits, int64_t *nan_lost)
    void exp_for_sum_check_baseline(uint32_t lo, uint32_t hi, uint32_t step,
                                    double *worst_ulp, uint32_t *worst_bits, int64_t *nan_lost)
    void log1p_check_clone(uint32_t lo, uint32_t hi, uint32_t step, double *worst_ulp,
                           uint32_t *worst_bits, int64_t *nan_lost)
    void log1p_check_baseline(uint32_t lo, uint32_t hi, uint32_t step, double *worst_ulp,
                              uint32_t *worst_bits, int64_t *nan_lost)

DEF PARTS = 64
FUNCTIONS = ("exp", "log1p", "exp_for_sum")


def scan(str function, uint32_t lo, uint32_t hi, uint32_t step=1, bint baseline=False,
         int nthreads=2):
    """(max ulp, the float where it occurs, how many NaN inputs did not give NaN) over
    every step-th bit pattern in [lo, hi], for `function` ("exp", "log1p" or "exp_for_sum",
    the softmax sums' exp that returns 0 below 2^-126) in the clone
    the kernels use (or the x86-64 baseline build)."""
    if function not in FUNCTIONS:
        raise ValueError(f"function must be one of {FUNCTIONS}, got {function!r}")
    cdef int which = FUNCTIONS.index(function) * 2 + (1 if baseline else 0)
    cdef double worst[PARTS]
    cdef uint32_t at[PARTS]
    cdef int64_t bad[PARTS]
    cdef long long n = (<long long> hi - lo) // step + 1
    cdef long long per = (n + PARTS - 1) // PARTS
    cdef int k
    cdef long long first, last
    cdef uint32_t a, b
    with nogil:
        for k in prange(PARTS, num_threads=nthreads, schedule="dynamic"):
            first = k * per
            last = min(n, first + per) - 1
            worst[k] = 0
            at[k] = 0
            bad[k] = 0
            if first <= last:
                a = <uint32_t> (lo + first * step)
                b = <uint32_t> (lo + last * step)
                if which == 0:
                    exp_check_clone(a, b, step, &worst[k], &at[k], &bad[k])
                elif which == 1:
                    exp_check_baseline(a, b, step, &worst[k], &at[k], &bad[k])
                elif which == 2:
                    log1p_check_clone(a, b, step, &worst[k], &at[k], &bad[k])
                elif which == 3:
                    log1p_check_baseline(a, b, step, &worst[k], &at[k], &bad[k])
                elif which == 4:
                    exp_for_sum_check_clone(a, b, step, &worst[k], &at[k], &bad[k])
                else:
                    exp_for_sum_check_baseline(a, b, step, &worst[k], &at[k], &bad[k])
    i = int(np.argmax([worst[k] for k in range(PARTS)]))
    z = float(np.array([at[i]], np.uint32).view(np.float32)[0])
    return worst[i], z, int(sum(bad[k] for k in range(PARTS)))
