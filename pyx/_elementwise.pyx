# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Elementwise losses: BCE, BCE with logits, sigmoid focal.  Value, per-element losses and
gradient in one pass.

Layout.  Every operand is described over the input's full shape by the same position walk
as the softmax kernels (outer offsets, one inner stride per array); broadcast operands
(weight, pos_weight, masks, integer targets along the class axis, a scalar grad_output)
are zero-stride views, never copies.  Per tile, operands that are not unit-stride are
gathered into per-thread buffers (a zero stride becomes a fill), so the C loops in
sigmoid_loops.h see contiguous arrays only and vectorise.

Integer class targets (one-vs-rest focal) come with a broadcast view of the class index of
each element: y = (target == class), counted = target != ignore_index and mask.

Work split and determinism as in _cross_entropy: fixed tiles, per-tile partial sums added
in tile order.
"""
import numpy as np
cimport numpy as cnp
from cython cimport floating
from cython.parallel cimport prange, parallel, threadid
from libc.stdint cimport int64_t, uint8_t, int16_t, int32_t
from libc.string cimport memset

from sigmoid_loops cimport bce_prob, bce_logits, sigmoid_focal

from kernel_common cimport index_t, align64, offsets_ptr, data_ptr

cnp.import_array()


cdef struct Plan:
    int mode                  # 0 BCE, 1 BCE with logits, 2 sigmoid focal
    Py_ssize_t inner, tile, tiles_per_outer, n_tiles, scratch_stride
    const int64_t *x_off
    Py_ssize_t x_s
    const int64_t *y_off      # dense targets
    Py_ssize_t y_s
    const int64_t *t_off      # integer targets (broadcast along the class axis)
    Py_ssize_t t_s
    const int64_t *c_off      # class index of each element (int64, broadcast)
    Py_ssize_t c_s
    const int64_t *w_off
    Py_ssize_t w_s
    const int64_t *pw_off
    Py_ssize_t pw_s
    const int64_t *m_off      # mask (uint8)
    Py_ssize_t m_s
    const int64_t *go_off     # per-element d(reduction) (grad_output times scale)
    Py_ssize_t go_s
    const int64_t *lo_off
    Py_ssize_t lo_s
    const int64_t *g_off
    Py_ssize_t g_s
    int64_t ignore_index
    double gamma, alpha, thr, B


cdef struct Filled:
    const void *base          # what the buffer holds: base[0] broadcast (stride 0) ...
    Py_ssize_t length         # ... over this many elements


cdef inline const floating *_operand(const floating *base, Py_ssize_t s, Py_ssize_t L,
                                     floating *buf, Filled *memo) noexcept nogil:
    """A contiguous view of L elements at stride s: the data itself, or a filled buffer.
    A broadcast scalar (stride 0: weight, pos_weight, the mean's grad_output) is filled once
    per thread and reused while the next tiles broadcast the same element."""
    cdef Py_ssize_t i
    if s == 1:
        return base
    if s == 0:
        if memo.base == <const void *> base and memo.length >= L:
            return buf
        for i in range(L):
            buf[i] = base[0]
        memo.base = <const void *> base
        memo.length = L
        return buf
    memo.base = NULL
    for i in range(L):
        buf[i] = base[i * s]
    return buf


cdef void _tile(const floating *x, const floating *y, const index_t *tg, const int64_t *cls,
                const floating *w, const floating *pw, const uint8_t *mk, const floating *go,
                floating *lo, floating *g, const Plan *p, char *scr, Py_ssize_t o,
                Py_ssize_t j0, Py_ssize_t L, double *sums) noexcept nogil:
    cdef Py_ssize_t i, blk = align64(p.tile * sizeof(floating))
    cdef floating *bx = <floating *> scr
    cdef floating *by = <floating *> (scr + blk)
    cdef floating *bw = <floating *> (scr + 2 * blk)
    cdef floating *bpw = <floating *> (scr + 3 * blk)
    cdef floating *bgo = <floating *> (scr + 4 * blk)
    cdef floating *blo = <floating *> (scr + 5 * blk)
    cdef floating *bg = <floating *> (scr + 6 * blk)
    cdef uint8_t *cnt = <uint8_t *> (scr + 7 * blk)
    # per-thread memos of the buffers bx, by, bw, bpw, bgo (see _operand)
    cdef Filled *memo = <Filled *> (scr + 7 * blk + align64(p.tile))
    cdef const floating *xs = _operand(x + p.x_off[o] + j0 * p.x_s, p.x_s, L, bx, &memo[0])
    cdef const floating *ys
    cdef const floating *gos = NULL
    cdef floating *los = NULL
    cdef floating *gs = NULL
    cdef const index_t *tb
    cdef const int64_t *cb
    cdef const uint8_t *mb
    cdef int64_t t
    if tg != NULL:
        tb = tg + p.t_off[o] + j0 * p.t_s
        cb = cls + p.c_off[o] + j0 * p.c_s
        for i in range(L):
            t = <int64_t> tb[i * p.t_s]
            by[i] = 1 if t == cb[i * p.c_s] else 0
            cnt[i] = t != p.ignore_index
        memo[1].base = NULL
        ys = by
    else:
        ys = _operand(y + p.y_off[o] + j0 * p.y_s, p.y_s, L, by, &memo[1])
        if p.mode == 2:           # only the focal loop reads cnt
            for i in range(L):
                cnt[i] = 1
    if mk != NULL:
        mb = mk + p.m_off[o] + j0 * p.m_s
        for i in range(L):
            cnt[i] = cnt[i] and mb[i * p.m_s] != 0
    if go != NULL:
        gos = _operand(go + p.go_off[o] + j0 * p.go_s, p.go_s, L, bgo, &memo[4])
    if lo != NULL:
        los = lo + p.lo_off[o] + j0 * p.lo_s if p.lo_s == 1 else blo
    if g != NULL:
        gs = g + p.g_off[o] + j0 * p.g_s if p.g_s == 1 else bg

    if p.mode == 0:
        bce_prob(L, xs, ys, _operand(w + p.w_off[o] + j0 * p.w_s, p.w_s, L, bw, &memo[2]), gos,
                 los, gs, sums)
    elif p.mode == 1:
        if w == NULL:   # neither weight nor pos_weight: the kernel's plain loop
            bce_logits(L, xs, ys, NULL, NULL, gos, los, gs, sums)
        else:
            bce_logits(L, xs, ys,
                       _operand(w + p.w_off[o] + j0 * p.w_s, p.w_s, L, bw, &memo[2]),
                       _operand(pw + p.pw_off[o] + j0 * p.pw_s, p.pw_s, L, bpw, &memo[3]),
                       gos, los, gs, sums)
    else:
        sigmoid_focal(L, p.gamma, p.alpha, p.thr, xs, ys, cnt, gos, p.B, los, gs, sums)

    if lo != NULL and p.lo_s != 1:
        for i in range(L):
            lo[p.lo_off[o] + (j0 + i) * p.lo_s] = blo[i]
    if g != NULL and p.g_s != 1:
        for i in range(L):
            g[p.g_off[o] + (j0 + i) * p.g_s] = bg[i]


cdef void _run(const floating *x, const floating *y, const index_t *tg, const int64_t *cls,
               const floating *w, const floating *pw, const uint8_t *mk, const floating *go,
               floating *lo, floating *g, const Plan *p, char *scratch, double *partial,
               int nthreads) noexcept nogil:
    cdef Py_ssize_t k, o, j0, L
    with parallel(num_threads=nthreads):
        for k in prange(p.n_tiles, schedule="static"):
            o = k // p.tiles_per_outer
            j0 = (k - o * p.tiles_per_outer) * p.tile
            L = min(p.tile, p.inner - j0)
            _tile(x, y, tg, cls, w, pw, mk, go, lo, g, p,
                  scratch + threadid() * p.scratch_stride, o, j0, L, partial + 2 * k)


def run(int mode, walk, x, y, target, classes, weight, pos_weight, mask, grad_output,
        loss_out, grad, int64_t ignore_index, double gamma, double alpha, double thr,
        double B, Py_ssize_t tile, int nthreads):
    """Run one elementwise loss over every element; returns (sum of losses, sum of focal
    terms) over counted elements, in float64.

    `walk` describes, in this order, x, y, target, classes, weight, pos_weight, mask,
    grad_output, loss_out, grad (None for an absent array).  Float arrays share x's dtype;
    `target` is uint8/int16/int32/int64, `classes` int64, `mask` uint8.
    """
    cdef Plan p
    cdef Py_ssize_t n_outer = len(walk.offsets[0]), k
    p.mode = mode
    p.inner = walk.inner
    p.tile = tile
    p.tiles_per_outer = (walk.inner + tile - 1) // tile
    p.n_tiles = n_outer * p.tiles_per_outer
    p.x_off, p.x_s = offsets_ptr(walk.offsets[0]), walk.strides[0]
    p.y_off, p.y_s = offsets_ptr(walk.offsets[1]), walk.strides[1]
    p.t_off, p.t_s = offsets_ptr(walk.offsets[2]), walk.strides[2]
    p.c_off, p.c_s = offsets_ptr(walk.offsets[3]), walk.strides[3]
    p.w_off, p.w_s = offsets_ptr(walk.offsets[4]), walk.strides[4]
    p.pw_off, p.pw_s = offsets_ptr(walk.offsets[5]), walk.strides[5]
    p.m_off, p.m_s = offsets_ptr(walk.offsets[6]), walk.strides[6]
    p.go_off, p.go_s = offsets_ptr(walk.offsets[7]), walk.strides[7]
    p.lo_off, p.lo_s = offsets_ptr(walk.offsets[8]), walk.strides[8]
    p.g_off, p.g_s = offsets_ptr(walk.offsets[9]), walk.strides[9]
    p.ignore_index = ignore_index
    p.gamma, p.alpha, p.thr, p.B = gamma, alpha, thr, B
    p.scratch_stride = 7 * align64(tile * x.itemsize) + align64(tile) + align64(5 * sizeof(Filled))
    cdef cnp.ndarray partial = np.zeros(2 * p.n_tiles, dtype=np.float64)
    cdef cnp.ndarray scratch = np.empty(max(nthreads, 1) * p.scratch_stride + 64, np.uint8)
    cdef char *scr = <char *> cnp.PyArray_DATA(scratch)
    scr = scr + ((64 - (<size_t> scr) % 64) % 64)
    cdef Py_ssize_t th
    for th in range(max(nthreads, 1)):     # every thread's memos start empty
        memset(scr + th * p.scratch_stride + 7 * align64(tile * x.itemsize) + align64(tile),
               0, 5 * sizeof(Filled))
    cdef double *part = <double *> cnp.PyArray_DATA(partial)
    cdef void *xp = data_ptr(x)
    cdef void *yp = data_ptr(y)
    cdef void *tp = data_ptr(target)
    cdef const int64_t *cp = <const int64_t *> data_ptr(classes)
    cdef void *wp = data_ptr(weight)
    cdef void *pwp = data_ptr(pos_weight)
    cdef const uint8_t *mp = <const uint8_t *> data_ptr(mask)
    cdef void *gop = data_ptr(grad_output)
    cdef void *lop = data_ptr(loss_out)
    cdef void *gp = data_ptr(grad)
    cdef int twidth = target.itemsize if target is not None else 8
    cdef bint single = x.dtype == np.float32
    cdef double total = 0.0, total_ft = 0.0
    with nogil:
        if single:
            if twidth == 1:
                _run(<const float *> xp, <const float *> yp, <const uint8_t *> tp, cp,
                     <const float *> wp, <const float *> pwp, mp, <const float *> gop,
                     <float *> lop, <float *> gp, &p, scr, part, nthreads)
            elif twidth == 2:
                _run(<const float *> xp, <const float *> yp, <const int16_t *> tp, cp,
                     <const float *> wp, <const float *> pwp, mp, <const float *> gop,
                     <float *> lop, <float *> gp, &p, scr, part, nthreads)
            elif twidth == 4:
                _run(<const float *> xp, <const float *> yp, <const int32_t *> tp, cp,
                     <const float *> wp, <const float *> pwp, mp, <const float *> gop,
                     <float *> lop, <float *> gp, &p, scr, part, nthreads)
            else:
                _run(<const float *> xp, <const float *> yp, <const int64_t *> tp, cp,
                     <const float *> wp, <const float *> pwp, mp, <const float *> gop,
                     <float *> lop, <float *> gp, &p, scr, part, nthreads)
        else:
            if twidth == 1:
                _run(<const double *> xp, <const double *> yp, <const uint8_t *> tp, cp,
                     <const double *> wp, <const double *> pwp, mp, <const double *> gop,
                     <double *> lop, <double *> gp, &p, scr, part, nthreads)
            elif twidth == 2:
                _run(<const double *> xp, <const double *> yp, <const int16_t *> tp, cp,
                     <const double *> wp, <const double *> pwp, mp, <const double *> gop,
                     <double *> lop, <double *> gp, &p, scr, part, nthreads)
            elif twidth == 4:
                _run(<const double *> xp, <const double *> yp, <const int32_t *> tp, cp,
                     <const double *> wp, <const double *> pwp, mp, <const double *> gop,
                     <double *> lop, <double *> gp, &p, scr, part, nthreads)
            else:
                _run(<const double *> xp, <const double *> yp, <const int64_t *> tp, cp,
                     <const double *> wp, <const double *> pwp, mp, <const double *> gop,
                     <double *> lop, <double *> gp, &p, scr, part, nthreads)
        for k in range(p.n_tiles):      # fixed order, whatever thread computed each tile
            total += part[2 * k]
            total_ft += part[2 * k + 1]
    return total, total_ft


cdef extern from "sigmoid_loops.h" nogil:
    int64_t count_outside_f32(const float *p, Py_ssize_t s, Py_ssize_t L, double lo,
                              double hi)
    int64_t count_outside_f64(const double *p, Py_ssize_t s, Py_ssize_t L, double lo,
                              double hi)

cdef enum:
    RANGE_CHUNK = 65536


def count_outside(arr, walk_offsets, Py_ssize_t stride, Py_ssize_t inner, double lo,
                  double hi, int nthreads=1):
    """(count, first offending value) of elements outside [lo, hi]; NaN is not counted.
    Fixed chunks over `nthreads` threads; the first value is found afterwards, serially,
    in the first chunk that has one (so it is the first in walk order)."""
    cdef Py_ssize_t n_outer = len(walk_offsets), k, o, j0, j
    cdef Py_ssize_t cpo = (inner + RANGE_CHUNK - 1) // RANGE_CHUNK
    cdef Py_ssize_t n_chunks = n_outer * cpo
    cdef const int64_t *off = <const int64_t *> cnp.PyArray_DATA(walk_offsets)
    cdef bint single = arr.dtype == np.float32
    cdef const float *f32 = <const float *> cnp.PyArray_DATA(arr)
    cdef const double *f64 = <const double *> cnp.PyArray_DATA(arr)
    cdef cnp.ndarray counts = np.zeros(max(n_chunks, 1), dtype=np.int64)
    cdef int64_t *cn = <int64_t *> cnp.PyArray_DATA(counts)
    cdef double v
    with nogil:
        for k in prange(n_chunks, num_threads=nthreads, schedule="static"):
            o = k // cpo
            j0 = (k - o * cpo) * RANGE_CHUNK
            if single:
                cn[k] = count_outside_f32(f32 + off[o] + j0 * stride, stride,
                                          min(RANGE_CHUNK, inner - j0), lo, hi)
            else:
                cn[k] = count_outside_f64(f64 + off[o] + j0 * stride, stride,
                                          min(RANGE_CHUNK, inner - j0), lo, hi)
    n = int(counts.sum())
    if not n:
        return 0, None
    k = int(np.flatnonzero(counts)[0])
    o = k // cpo
    j0 = (k - o * cpo) * RANGE_CHUNK
    for j in range(j0, min(j0 + RANGE_CHUNK, inner)):
        v = f32[off[o] + j * stride] if single else f64[off[o] + j * stride]
        if v < lo or v > hi:
            return n, v
    return n, None
