# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Accuracy check of the kernels' softmax exponential (pyx/exp_nonpositive.h), for tests and
for an exhaustive run by hand: ``scan(0x80000000, 0xff800000, 1)`` covers every
non-positive float (about 40 s on 2 cores)."""
import numpy as np
from cython.parallel cimport prange
from libc.stdint cimport uint32_t, int64_t

cdef extern from "exp_check.h" nogil:
    void exp_check_clone(uint32_t lo, uint32_t hi, uint32_t step, double *worst_ulp,
                         uint32_t *worst_bits, int64_t *nan_lost)
    void exp_check_baseline(uint32_t lo, uint32_t hi, uint32_t step, double *worst_ulp,
                            uint32_t *worst_bits, int64_t *nan_lost)

DEF PARTS = 64


def scan(uint32_t lo, uint32_t hi, uint32_t step=1, bint baseline=False, int nthreads=2):
    """(max ulp, the float where it occurs, how many NaN inputs did not give NaN) over
    every step-th bit pattern in [lo, hi], in the clone the kernels use (or the x86-64
    baseline build)."""
    cdef double worst[PARTS]
    cdef uint32_t at[PARTS]
    cdef int64_t bad[PARTS]
    cdef long long n = (<long long> hi - lo) // step + 1
    cdef long long per = (n + PARTS - 1) // PARTS
    cdef int k
    cdef long long first, last
    with nogil:
        for k in prange(PARTS, num_threads=nthreads, schedule="dynamic"):
            first = k * per
            last = min(n, first + per) - 1
            worst[k] = 0
            at[k] = 0
            bad[k] = 0
            if first <= last:
                if baseline:
                    exp_check_baseline(<uint32_t> (lo + first * step),
                                       <uint32_t> (lo + last * step), step,
                                       &worst[k], &at[k], &bad[k])
                else:
                    exp_check_clone(<uint32_t> (lo + first * step),
                                    <uint32_t> (lo + last * step), step,
                                    &worst[k], &at[k], &bad[k])
    i = int(np.argmax([worst[k] for k in range(PARTS)]))
    z = float(np.array([at[i]], np.uint32).view(np.float32)[0])
    return worst[i], z, int(sum(bad[k] for k in range(PARTS)))
