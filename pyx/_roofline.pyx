# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Roofline passes over float32 arrays, for benchmarks/: see roofline.h.

All return the sum they computed (so no compiler can drop the work), split in fixed
chunks over `nthreads` OpenMP threads exactly like the loss kernels.
"""
import numpy as np
cimport numpy as cnp
from cython.parallel cimport prange

cdef extern from "roofline.h" nogil:
    double roofline_sum_f32(const float *x, Py_ssize_t n)
    double roofline_exp_sum_f32(const float *x, Py_ssize_t n)
    double roofline_ownexp_sum_f32(const float *x, Py_ssize_t n)
    double roofline_read_write_f32(const float *x, Py_ssize_t n, float *y, int stream)

cnp.import_array()

DEF CHUNK = 65536


def read_pass(x, int nthreads, bint with_exp, bint own_exp=False):
    """sum(x) (with_exp False), sum(exp(x)) with glibc's expf, or (own_exp) sum(exp(-|x|))
    with the kernels' softmax exponential, over a float32 array."""
    cdef cnp.ndarray a = np.ascontiguousarray(x, dtype=np.float32).reshape(-1)
    cdef const float *p = <const float *> cnp.PyArray_DATA(a)
    cdef Py_ssize_t n = a.shape[0], k, n_chunks = (n + CHUNK - 1) // CHUNK, start, count
    cdef cnp.ndarray partial = np.zeros(max(n_chunks, 1), dtype=np.float64)
    cdef double *part = <double *> cnp.PyArray_DATA(partial)
    with nogil:
        for k in prange(n_chunks, num_threads=nthreads, schedule="static"):
            start = k * CHUNK
            count = min(CHUNK, n - start)
            if with_exp and own_exp:
                part[k] = roofline_ownexp_sum_f32(p + start, count)
            elif with_exp:
                part[k] = roofline_exp_sum_f32(p + start, count)
            else:
                part[k] = roofline_sum_f32(p + start, count)
    return float(partial.sum())


def read_write_pass(x, out, int nthreads, bint stream):
    """out[...] = x (float32, C-contiguous, same size) through an L1 buffer, with streaming
    stores (stream, AVX-512 only; plain stores elsewhere) or plain ones: the read+write
    floor of a value-and-gradient pass."""
    cdef cnp.ndarray a = np.ascontiguousarray(x, dtype=np.float32).reshape(-1)
    cdef cnp.ndarray b = out.reshape(-1)
    if b.dtype != np.float32 or b.shape[0] != a.shape[0] or not b.flags.c_contiguous:
        raise ValueError("out must be a C-contiguous float32 array of x's size")
    cdef const float *p = <const float *> cnp.PyArray_DATA(a)
    cdef float *q = <float *> cnp.PyArray_DATA(b)
    cdef Py_ssize_t n = a.shape[0], k, n_chunks = (n + CHUNK - 1) // CHUNK, start, count
    cdef cnp.ndarray partial = np.zeros(max(n_chunks, 1), dtype=np.float64)
    cdef double *part = <double *> cnp.PyArray_DATA(partial)
    with nogil:
        for k in prange(n_chunks, num_threads=nthreads, schedule="static"):
            start = k * CHUNK
            count = min(CHUNK, n - start)
            part[k] = roofline_read_write_f32(p + start, count, q + start, stream)
    return float(partial.sum())
