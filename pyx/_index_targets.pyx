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


cdef enum:
    SMALL_TILES = 16      # per-tile partials of up to this many tiles live on the stack


cdef struct ScanArgs:
    const void *tp
    int width
    const int64_t *to
    Py_ssize_t t_ps
    const uint8_t *mp
    const int64_t *mo
    Py_ssize_t m_ps, tpo, tile, inner, C
    bint use_ii
    int64_t ii
    const double *wp
    int64_t *cn
    int64_t *bd
    int64_t *fb
    double *ws


cdef inline void _scan_tile(const ScanArgs *a, Py_ssize_t k) noexcept nogil:
    """Scan tile k into its slots cn[k], bd[k], fb[k], ws[k]."""
    cdef Py_ssize_t o = k // a.tpo
    cdef Py_ssize_t j0 = (k - o * a.tpo) * a.tile
    onnxl_targets_scan(a.tp, a.width, a.to[o] + j0 * a.t_ps, a.t_ps,
                       a.mp + a.mo[o] + j0 * a.m_ps if a.mp != NULL else NULL, a.m_ps,
                       min(a.tile, a.inner - j0), a.use_ii, a.ii, a.C, a.wp,
                       &a.cn[k], &a.bd[k], &a.fb[k], &a.ws[k])


def scan(target, t_off, Py_ssize_t t_ps, mask, m_off, Py_ssize_t m_ps,
         Py_ssize_t inner, Py_ssize_t tile, Py_ssize_t C, ignore_index, weight,
         int nthreads):
    """Return (count, weight_total, n_bad, first_bad) over the counted targets;
    ignore_index None: every position the mask keeps is counted."""
    cdef bint use_ii = ignore_index is not None
    cdef int64_t ii = ignore_index if use_ii else 0
    cdef Py_ssize_t tpo = (inner + tile - 1) // tile
    cdef Py_ssize_t n_tiles = len(t_off) * tpo
    # a small batch's scan allocates nothing (four arrays cost more than its whole loop)
    cdef double ws_small[SMALL_TILES]
    cdef int64_t cn_small[SMALL_TILES]
    cdef int64_t bd_small[SMALL_TILES]
    cdef int64_t fb_small[SMALL_TILES]
    cdef cnp.ndarray parts = None
    cdef double *ws = ws_small
    cdef int64_t *cn = cn_small
    cdef int64_t *bd = bd_small
    cdef int64_t *fb = fb_small
    if n_tiles > SMALL_TILES:
        parts = np.empty(4 * n_tiles, dtype=np.int64)   # four 8-byte slots per tile
        ws = <double *> cnp.PyArray_DATA(parts)
        cn = <int64_t *> cnp.PyArray_DATA(parts) + n_tiles
        bd = cn + n_tiles
        fb = bd + n_tiles
    cdef const void *tp = cnp.PyArray_DATA(target)
    cdef const int64_t *to = <const int64_t *> cnp.PyArray_DATA(t_off)
    cdef const uint8_t *mp = <const uint8_t *> data_ptr(mask)      # NULL when None
    cdef const int64_t *mo = offsets_ptr(m_off)
    cdef const double *wp = <const double *> data_ptr(weight)
    cdef int width = target.itemsize
    cdef double total = 0.0
    cdef int64_t count = 0, n_bad = 0
    cdef Py_ssize_t k
    # more threads than tiles would only wait for each other
    cdef int threads = <int> min(<Py_ssize_t> max(nthreads, 1), max(n_tiles, 1))
    cdef ScanArgs a
    a.tp, a.width, a.to, a.t_ps, a.mp, a.mo, a.m_ps = tp, width, to, t_ps, mp, mo, m_ps
    a.tpo, a.tile, a.inner, a.use_ii, a.ii, a.C, a.wp = tpo, tile, inner, use_ii, ii, C, wp
    a.cn, a.bd, a.fb, a.ws = cn, bd, fb, ws
    if threads == 1:        # no parallel region: it costs more than a small scan
        with nogil:
            for k in range(n_tiles):
                _scan_tile(&a, k)
    else:
        with nogil, parallel(num_threads=threads):
            for k in prange(n_tiles, schedule="static"):
                _scan_tile(&a, k)
    first_bad = None
    for k in range(n_tiles):       # tile order: the weight total and the first bad target
        total += ws[k]
        count += cn[k]
        if bd[k] and n_bad == 0:
            first_bad = fb[k]
        n_bad += bd[k]
    return count, total, n_bad, first_bad
