# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Accuracy checks of the kernels' own math functions (pyx/math_check.h), for the tests
and for exhaustive runs by hand:

    scan("exp", 0x80000000, 0xff800000)     every non-positive float (about 40 s, 2 cores)
    scan("log1p", 0x00000000, 0x3f800000)   every float in [0, 1] (about 15 s)
    scan("log1p_neg", 0x80000000, 0xbf800000)   every float in [-1, 0]
    scan("exp_for_sum", 0x80000000, 0xff800000)   the softmax sums' exp (0 below 2^-126)

(Times on the 2-core AVX2 machine; the AVX-512 one takes about 5 s for each exp scan.)
The double functions cannot be checked exhaustively; scan64 takes evenly spaced bit
patterns against glibc's long double functions:

    scan64("log1p_f64", 0, 0x3ff0000000000000, 2**34 + 1)        [0, 1], 2^28 doubles
    scan64("expm1_f64", 0x8000000000000000, 0xfff0000000000000, 2**35 + 1)   z <= 0
"""
import numpy as np
from cython.parallel cimport prange
from libc.stdint cimport uint32_t, uint64_t, int64_t

ctypedef void (*check32_t)(uint32_t lo, uint32_t hi, uint32_t step, double *worst_ulp,
                           uint32_t *worst_bits, int64_t *nan_lost) noexcept nogil
ctypedef void (*check64_t)(uint64_t lo, uint64_t hi, uint64_t step, double *worst_ulp,
                           uint64_t *worst_bits, int64_t *nan_lost) noexcept nogil

cdef extern from "math_check.h" nogil:
    void exp_check_clone(uint32_t, uint32_t, uint32_t, double *, uint32_t *, int64_t *)
    void exp_check_baseline(uint32_t, uint32_t, uint32_t, double *, uint32_t *, int64_t *)
    void exp_for_sum_check_clone(uint32_t, uint32_t, uint32_t, double *, uint32_t *,
                                 int64_t *)
    void exp_for_sum_check_baseline(uint32_t, uint32_t, uint32_t, double *, uint32_t *,
                                    int64_t *)
    void log1p_check_clone(uint32_t, uint32_t, uint32_t, double *, uint32_t *, int64_t *)
    void log1p_check_baseline(uint32_t, uint32_t, uint32_t, double *, uint32_t *, int64_t *)
    void log1p_neg_check_clone(uint32_t, uint32_t, uint32_t, double *, uint32_t *, int64_t *)
    void log1p_neg_check_baseline(uint32_t, uint32_t, uint32_t, double *, uint32_t *,
                                  int64_t *)
    void log1p_f64_check_clone(uint64_t, uint64_t, uint64_t, double *, uint64_t *, int64_t *)
    void log1p_f64_check_baseline(uint64_t, uint64_t, uint64_t, double *, uint64_t *,
                                  int64_t *)
    void expm1_f64_check_clone(uint64_t, uint64_t, uint64_t, double *, uint64_t *, int64_t *)
    void expm1_f64_check_baseline(uint64_t, uint64_t, uint64_t, double *, uint64_t *,
                                  int64_t *)
    double onnxl_log1p_reference(double z)
    double onnxl_expm1_reference(double z)
    double onnxl_log1p_f64(double z)
    double onnxl_expm1_nonpos(double z)

DEF PARTS = 64
FUNCTIONS = ("exp", "log1p", "exp_for_sum", "log1p_neg")
FUNCTIONS64 = ("log1p_f64", "expm1_f64")


cdef check32_t _check32(int which, bint baseline) noexcept:
    if which == 0:
        return exp_check_baseline if baseline else exp_check_clone
    if which == 1:
        return log1p_check_baseline if baseline else log1p_check_clone
    if which == 2:
        return exp_for_sum_check_baseline if baseline else exp_for_sum_check_clone
    return log1p_neg_check_baseline if baseline else log1p_neg_check_clone


cdef check64_t _check64(int which, bint baseline) noexcept:
    if which == 0:
        return log1p_f64_check_baseline if baseline else log1p_f64_check_clone
    return expm1_f64_check_baseline if baseline else expm1_f64_check_clone


def scan(str function, uint32_t lo, uint32_t hi, uint32_t step=1, bint baseline=False,
         int nthreads=2):
    """(max ulp, the float where it occurs, how many NaN inputs did not give NaN) over
    every step-th bit pattern in [lo, hi], for `function` ("exp", "log1p", "log1p_neg" or
    "exp_for_sum", the softmax sums' exp that returns 0 below 2^-126) in the clone the
    kernels use (or the x86-64 baseline build)."""
    if function not in FUNCTIONS:
        raise ValueError(f"function must be one of {FUNCTIONS}, got {function!r}")
    if hi < lo or step < 1:
        raise ValueError(f"need lo <= hi and step >= 1, got {lo}, {hi}, {step}")
    cdef check32_t check = _check32(FUNCTIONS.index(function), baseline)
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
                check(<uint32_t> (lo + first * step), <uint32_t> (lo + last * step), step,
                      &worst[k], &at[k], &bad[k])
    i = int(np.argmax([worst[k] for k in range(PARTS)]))
    z = float(np.array([at[i]], np.uint32).view(np.float32)[0])
    return worst[i], z, int(sum(bad[k] for k in range(PARTS)))


def scan64(str function, uint64_t lo, uint64_t hi, uint64_t step=1, bint baseline=False,
           int nthreads=2):
    """scan() for the double functions ("log1p_f64" on [-1, 1], "expm1_f64" on z <= 0):
    every step-th double bit pattern in [lo, hi] against the long double reference."""
    if function not in FUNCTIONS64:
        raise ValueError(f"function must be one of {FUNCTIONS64}, got {function!r}")
    if hi < lo or step < 1:
        raise ValueError(f"need lo <= hi and step >= 1, got {lo}, {hi}, {step}")
    cdef check64_t check = _check64(FUNCTIONS64.index(function), baseline)
    cdef double worst[PARTS]
    cdef uint64_t at[PARTS]
    cdef int64_t bad[PARTS]
    cdef uint64_t n = (hi - lo) // step + 1
    cdef uint64_t per = (n + PARTS - 1) // PARTS
    cdef int k
    cdef uint64_t first, last
    with nogil:
        for k in prange(PARTS, num_threads=nthreads, schedule="dynamic"):
            first = k * per
            worst[k] = 0
            at[k] = 0
            bad[k] = 0
            if first < n:
                last = min(n, first + per) - 1
                check(lo + first * step, lo + last * step, step, &worst[k], &at[k], &bad[k])
    i = int(np.argmax([worst[k] for k in range(PARTS)]))
    z = float(np.array([at[i]], np.uint64).view(np.float64)[0])
    return worst[i], z, int(sum(bad[k] for k in range(PARTS)))


def evaluate64(str function, z):
    """(own, reference) for the double function at each z (float64 arrays): the kernels'
    own result and the long double reference rounded to double."""
    if function not in FUNCTIONS64:
        raise ValueError(f"function must be one of {FUNCTIONS64}, got {function!r}")
    cdef double[::1] zz = np.ascontiguousarray(z, dtype=np.float64).ravel()
    own = np.empty(zz.shape[0])
    ref = np.empty(zz.shape[0])
    cdef double[::1] o = own, r = ref
    cdef Py_ssize_t i
    cdef bint log1p = function == "log1p_f64"
    for i in range(zz.shape[0]):
        if log1p:
            o[i] = onnxl_log1p_f64(zz[i])
            r[i] = onnxl_log1p_reference(zz[i])
        else:
            o[i] = onnxl_expm1_nonpos(zz[i])
            r[i] = onnxl_expm1_reference(zz[i])
    return own, ref
