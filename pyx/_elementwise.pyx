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
from libc.stdint cimport int64_t, uint8_t
from libc.string cimport memset

from sigmoid_loops cimport bce_prob, bce_logits, sigmoid_focal

from targets cimport onnxl_targets_tile
from kernel_common cimport Operand, operand, at, Carver, carve, aligned_blocks, data_ptr

cnp.import_array()


cdef enum:
    SMALL_TILES = 16          # partial sums of up to this many tiles live on the stack


cpdef enum Loss:
    BCE = 0
    BCE_WITH_LOGITS = 1
    SIGMOID_FOCAL = 2


cdef struct Plan:
    Loss mode
    Py_ssize_t inner, tile, tiles_per_outer, n_tiles, scratch_stride
    Operand x
    Operand y                 # dense targets
    Operand t                 # integer targets (broadcast along the class axis)
    int t_width               # their width in bytes
    Operand cls               # class index of each element (int64, broadcast)
    Operand w
    Operand pw
    Operand m                 # mask (uint8)
    Operand go                # per-element d(reduction) (grad_output times scale)
    Operand lo
    Operand g
    bint use_ii               # ignore_index applies (it is not None)
    int64_t ignore_index
    double gamma, alpha, thr, B


cdef struct Filled:
    const void *base          # what the buffer holds: base[0] broadcast (stride 0) ...
    Py_ssize_t length         # ... over this many elements


cdef struct Scratch:
    char *x                   # [tile] of T each: contiguous views of the operands
    char *y
    char *w
    char *pw
    char *go
    char *lo                  # per-element losses before they are scattered
    char *g                   # gradient before it is scattered
    int64_t *tt               # [tile]: integer target where counted, 0 elsewhere
    uint8_t *cnt              # [tile]: counted
    Filled *memo              # what the buffers x, y, w, pw, go hold (see _operand)


cdef Py_ssize_t _scratch_layout(char *base, Py_ssize_t tile, Py_ssize_t isz,
                                Scratch *sc) noexcept nogil:
    """Carve one thread's scratch block (base NULL: only size it); returns its size."""
    cdef Carver c
    c.base = base
    c.used = 0
    sc.x = carve(&c, tile * isz)
    sc.y = carve(&c, tile * isz)
    sc.w = carve(&c, tile * isz)
    sc.pw = carve(&c, tile * isz)
    sc.go = carve(&c, tile * isz)
    sc.lo = carve(&c, tile * isz)
    sc.g = carve(&c, tile * isz)
    sc.tt = <int64_t *> carve(&c, tile * 8)
    sc.cnt = <uint8_t *> carve(&c, tile)
    sc.memo = <Filled *> carve(&c, 5 * sizeof(Filled))
    return c.used


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


cdef inline const floating *_view(const Operand *op, Py_ssize_t o, Py_ssize_t j0,
                                  Py_ssize_t L, floating *buf, Filled *memo) noexcept nogil:
    """The L elements of op from position j0 of outer index o, contiguous (see _operand)."""
    return _operand(<const floating *> op.data + at(op, o, j0), op.ps, L, buf, memo)


cdef void _tile(const floating *x, const Plan *p, char *scr, Py_ssize_t o, Py_ssize_t j0,
                Py_ssize_t L, double *sums) noexcept nogil:
    cdef Scratch sc
    _scratch_layout(scr, p.tile, sizeof(floating), &sc)
    cdef Py_ssize_t i
    cdef Filled *memo = sc.memo
    cdef const floating *xs = _view(&p.x, o, j0, L, <floating *> sc.x, &memo[0])
    cdef const floating *ys
    cdef const floating *gos = NULL
    cdef floating *los = NULL
    cdef floating *gs = NULL
    cdef floating *by = <floating *> sc.y
    cdef floating *lo = <floating *> p.lo.data
    cdef floating *g = <floating *> p.g.data
    cdef const int64_t *cb
    cdef const uint8_t *mb = NULL
    if p.m.data != NULL:
        mb = <const uint8_t *> p.m.data + at(&p.m, o, j0)
    if p.t.data != NULL:
        # one-vs-rest: y = (target == class), counted = mask set and target not ignored
        onnxl_targets_tile(p.t.data, p.t_width, at(&p.t, o, j0), p.t.ps, mb, p.m.ps, L,
                           p.use_ii, p.ignore_index, sc.tt, sc.cnt)
        cb = <const int64_t *> p.cls.data + at(&p.cls, o, j0)
        for i in range(L):
            by[i] = 1 if sc.tt[i] == cb[i * p.cls.ps] else 0
        memo[1].base = NULL
        ys = by
    else:
        ys = _view(&p.y, o, j0, L, <floating *> sc.y, &memo[1])
        if p.mode == SIGMOID_FOCAL:           # only the focal loop reads cnt
            for i in range(L):
                sc.cnt[i] = 1 if mb == NULL or mb[i * p.m.ps] != 0 else 0
    if p.go.data != NULL:
        gos = _view(&p.go, o, j0, L, <floating *> sc.go, &memo[4])
    if lo != NULL:
        los = lo + at(&p.lo, o, j0) if p.lo.ps == 1 else <floating *> sc.lo
    if g != NULL:
        gs = g + at(&p.g, o, j0) if p.g.ps == 1 else <floating *> sc.g

    if p.mode == BCE:
        bce_prob(L, xs, ys, _view(&p.w, o, j0, L, <floating *> sc.w, &memo[2]), gos, los, gs, sums)
    elif p.mode == BCE_WITH_LOGITS:
        if p.w.data == NULL:   # neither weight nor pos_weight: the kernel's plain loop
            bce_logits(L, xs, ys, NULL, NULL, gos, los, gs, sums)
        else:
            bce_logits(L, xs, ys, _view(&p.w, o, j0, L, <floating *> sc.w, &memo[2]),
                       _view(&p.pw, o, j0, L, <floating *> sc.pw, &memo[3]), gos, los, gs, sums)
    else:
        sigmoid_focal(L, p.gamma, p.alpha, p.thr, xs, ys, sc.cnt, gos, p.B, los, gs, sums)

    if lo != NULL and p.lo.ps != 1:
        for i in range(L):
            lo[at(&p.lo, o, j0 + i)] = (<floating *> sc.lo)[i]
    if g != NULL and p.g.ps != 1:
        for i in range(L):
            g[at(&p.g, o, j0 + i)] = (<floating *> sc.g)[i]


cdef void _run(const floating *x, const Plan *p, char *scratch, double *partial,
               int nthreads) noexcept nogil:
    cdef Py_ssize_t k, o, j0, L
    with parallel(num_threads=nthreads):
        for k in prange(p.n_tiles, schedule="static"):
            o = k // p.tiles_per_outer
            j0 = (k - o * p.tiles_per_outer) * p.tile
            L = min(p.tile, p.inner - j0)
            _tile(x, p, scratch + threadid() * p.scratch_stride, o, j0, L, partial + 2 * k)


def run(Loss mode, walk, x, y, target, classes, weight, pos_weight, mask, grad_output,
        loss_out, grad, *, ignore_index, double gamma, double alpha, double thr, double B,
        Py_ssize_t tile, int nthreads):
    """Run one elementwise loss over every element; returns (sum of losses, sum of focal
    terms) over counted elements, in float64.

    `walk` describes, in this order, x, y, target, classes, weight, pos_weight, mask,
    grad_output, loss_out, grad (None for an absent array).  Float arrays share x's dtype;
    `target` is uint8/int16/int32/int64, `classes` int64, `mask` uint8.
    """
    cdef Plan p
    cdef Py_ssize_t n_outer = len(walk.offsets[0]), k, th
    p.mode = mode
    p.inner = walk.inner
    p.tile = tile
    p.tiles_per_outer = (walk.inner + tile - 1) // tile
    p.n_tiles = n_outer * p.tiles_per_outer
    p.x = operand(x, walk.offsets[0], walk.strides[0])
    p.y = operand(y, walk.offsets[1], walk.strides[1])
    p.t = operand(target, walk.offsets[2], walk.strides[2])
    p.t_width = target.itemsize if target is not None else 8
    p.cls = operand(classes, walk.offsets[3], walk.strides[3])
    p.w = operand(weight, walk.offsets[4], walk.strides[4])
    p.pw = operand(pos_weight, walk.offsets[5], walk.strides[5])
    p.m = operand(mask, walk.offsets[6], walk.strides[6])
    p.go = operand(grad_output, walk.offsets[7], walk.strides[7])
    p.lo = operand(loss_out, walk.offsets[8], walk.strides[8])
    p.g = operand(grad, walk.offsets[9], walk.strides[9])
    p.use_ii = ignore_index is not None
    p.ignore_index = ignore_index if p.use_ii else 0
    p.gamma, p.alpha, p.thr, p.B = gamma, alpha, thr, B
    cdef Scratch sc
    p.scratch_stride = _scratch_layout(NULL, tile, x.itemsize, &sc)
    # more threads than tiles would only wait for each other
    nthreads = <int> min(<Py_ssize_t> max(nthreads, 1), max(p.n_tiles, 1))
    # a small call's partial sums live on the stack (zeroed: BCE's tiles leave the focal
    # term's slot alone)
    cdef double part_small[2 * SMALL_TILES]
    cdef cnp.ndarray partial = None
    cdef double *part = part_small
    if p.n_tiles > SMALL_TILES:
        partial = np.zeros(2 * p.n_tiles, dtype=np.float64)
        part = <double *> cnp.PyArray_DATA(partial)
    else:
        memset(part_small, 0, sizeof(part_small))
    cdef cnp.ndarray scratch = np.empty(nthreads * p.scratch_stride + 64, np.uint8)
    cdef char *scr = aligned_blocks(scratch)
    for th in range(nthreads):     # every thread's memos start empty
        _scratch_layout(scr + th * p.scratch_stride, tile, x.itemsize, &sc)
        memset(sc.memo, 0, 5 * sizeof(Filled))
    cdef bint single = x.dtype == np.float32
    cdef double total = 0.0, total_ft = 0.0
    with nogil:
        # the one dispatch: on the float type (targets are read in any width by targets.h)
        if single:
            _run(<const float *> p.x.data, &p, scr, part, nthreads)
        else:
            _run(<const double *> p.x.data, &p, scr, part, nthreads)
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
    SMALL_CHUNKS = 16


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
    # a small array's check allocates nothing (an array and its sum cost more than the loop)
    cdef int64_t cn_small[SMALL_CHUNKS]
    cdef cnp.ndarray counts = None
    cdef int64_t *cn = cn_small
    if n_chunks > SMALL_CHUNKS:
        counts = np.empty(n_chunks, dtype=np.int64)
        cn = <int64_t *> cnp.PyArray_DATA(counts)
    cdef double v
    cdef int64_t n = 0
    # more threads than chunks would only wait for each other
    cdef int threads = <int> min(<Py_ssize_t> max(nthreads, 1), max(n_chunks, 1))
    with nogil:
        for k in prange(n_chunks, num_threads=threads, schedule="static"):
            o = k // cpo
            j0 = (k - o * cpo) * RANGE_CHUNK
            if single:
                cn[k] = count_outside_f32(f32 + off[o] + j0 * stride, stride,
                                          min(RANGE_CHUNK, inner - j0), lo, hi)
            else:
                cn[k] = count_outside_f64(f64 + off[o] + j0 * stride, stride,
                                          min(RANGE_CHUNK, inner - j0), lo, hi)
    for k in range(n_chunks):
        n += cn[k]
    if not n:
        return 0, None
    k = 0
    while cn[k] == 0:
        k += 1
    o = k // cpo
    j0 = (k - o * cpo) * RANGE_CHUNK
    for j in range(j0, min(j0 + RANGE_CHUNK, inner)):
        v = f32[off[o] + j * stride] if single else f64[off[o] + j * stride]
        if v < lo or v > hi:
            return n, v
    return n, None
