# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""One pass over integer class targets, before any logits are read.

It checks every counted target (mask True, not ignore_index) against [0, C), so that a bad
target raises in Python before work starts and no kernel ever indexes out of bounds, and it
sums the class weight of every counted position: the denominator of PyTorch's weighted mean,
which the fused pass needs up front to write the gradient in the same pass as the value.

Positions are split into the same fixed tiles as the kernels; per-tile partials are added in
tile order, so the weight total does not depend on the thread count.  Targets are read in
their own dtype, never widened into a copy.
"""
import numpy as np
cimport numpy as cnp
from cython.parallel cimport prange, parallel
from libc.stdint cimport int64_t, uint8_t

from kernel_common cimport offsets_ptr, data_ptr
from targets cimport onnxl_targets_scan

cnp.import_array()


def scan(target, t_off, Py_ssize_t t_ps, mask, m_off, Py_ssize_t m_ps,
         Py_ssize_t inner, Py_ssize_t tile, Py_ssize_t C, ignore_index, weight,
         int nthreads):
    """Return (count, weight_total, n_bad, first_bad) over the counted targets;
    ignore_index None: every position the mask keeps is counted."""
    cdef bint use_ii = ignore_index is not None
    cdef int64_t ii = ignore_index if use_ii else 0
    cdef Py_ssize_t tpo = (inner + tile - 1) // tile
    cdef Py_ssize_t n_tiles = len(t_off) * tpo
    cdef cnp.ndarray wsum = np.zeros(n_tiles, dtype=np.float64)
    cdef cnp.ndarray count = np.zeros(n_tiles, dtype=np.int64)
    cdef cnp.ndarray bad = np.zeros(n_tiles, dtype=np.int64)
    cdef cnp.ndarray first = np.zeros(n_tiles, dtype=np.int64)
    cdef const void *tp = cnp.PyArray_DATA(target)
    cdef const int64_t *to = <const int64_t *> cnp.PyArray_DATA(t_off)
    cdef const uint8_t *mp = <const uint8_t *> data_ptr(mask)      # NULL when None
    cdef const int64_t *mo = offsets_ptr(m_off)
    cdef const double *wp = <const double *> data_ptr(weight)
    cdef double *ws = <double *> cnp.PyArray_DATA(wsum)
    cdef int64_t *cn = <int64_t *> cnp.PyArray_DATA(count)
    cdef int64_t *bd = <int64_t *> cnp.PyArray_DATA(bad)
    cdef int64_t *fb = <int64_t *> cnp.PyArray_DATA(first)
    cdef int width = target.itemsize
    cdef double total = 0.0
    cdef Py_ssize_t k, o, j0
    with nogil, parallel(num_threads=nthreads):
        for k in prange(n_tiles, schedule="static"):
            o = k // tpo
            j0 = (k - o * tpo) * tile
            onnxl_targets_scan(tp, width, to[o] + j0 * t_ps, t_ps,
                               mp + mo[o] + j0 * m_ps if mp != NULL else NULL, m_ps,
                               min(tile, inner - j0), use_ii, ii, C, wp,
                               &cn[k], &bd[k], &fb[k], &ws[k])
    for k in range(n_tiles):
        total += ws[k]
    n_bad = int(bad.sum())
    first_bad = int(first[np.flatnonzero(bad)[0]]) if n_bad else None
    return int(count.sum()), total, n_bad, first_bad
