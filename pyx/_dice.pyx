# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Dice-family kernel: per (sample, class) sufficient statistics, and the gradient pass.

Statistics (one pass over the input): with p the prediction (softmax over classes, sigmoid,
or the input itself) and t the target (one-hot of integer class indices, never built in
memory, or a dense target of the input's shape), over counted positions (mask True and
target != ignore_index):
    I[n, c] = sum p t,   P[n, c] = sum p^k,   T[n, c] = sum t^k   (k = 2 when squared),
and the number of counted positions of each sample.  Every Dice / Jaccard / Tversky /
generalized Dice variant is a cheap function of these, evaluated in Python.

Gradient (a second pass, p recomputed, no N*C temporaries): given A = dL/dI and
B = dL/dP per (sample, class), dL/dp = A t + B k p^(k-1), then through the activation:
softmax dx_c = p_c (g_c - sum_j p_j g_j), sigmoid dx = g p (1 - p), identity dx = g;
0 at positions that are not counted.

Layout and determinism: per image, the position walk keeps the sample axis outermost, so a
tile never spans two samples (pooled, the caller merges samples into one group); tiles are
grouped into fixed chunks whose partial sums land in their own
slots and are added in chunk order.  Nothing depends on the thread count.
"""
import numpy as np
cimport numpy as cnp
from cython cimport floating
from cython.parallel cimport prange, parallel, threadid
from libc.stdint cimport int64_t, uint8_t, int16_t, int32_t

from softmax_loops cimport tile_max, tile_sumexp, tile_gather, tile_scatter

cdef extern from "dice_loops.h" nogil:
    void dice_stats_f32(const float *prob, Py_ssize_t C, Py_ssize_t L, const int64_t *tt,
                        const float *y, const float *keep, int k, double *stats)
    void dice_stats_f64(const double *prob, Py_ssize_t C, Py_ssize_t L, const int64_t *tt,
                        const double *y, const double *keep, int k, double *stats)
    void tile_normalize_f32(float *prob, Py_ssize_t C, Py_ssize_t L, const float *keep,
                            float *s)
    void tile_normalize_f64(double *prob, Py_ssize_t C, Py_ssize_t L, const double *keep,
                            double *s)
    void tile_activate_f32(const float *x, Py_ssize_t cs, Py_ssize_t C, Py_ssize_t L,
                           const float *keep, int act, float *prob)
    void tile_activate_f64(const double *x, Py_ssize_t cs, Py_ssize_t C, Py_ssize_t L,
                           const double *keep, int act, double *prob)
    void dice_grad_f32(const float *prob, Py_ssize_t C, Py_ssize_t L, const int64_t *tt,
                       const float *y, const float *keep, const double *A, const double *B,
                       int k, int act, float *m, float *out, Py_ssize_t ocs)
    void dice_grad_f64(const double *prob, Py_ssize_t C, Py_ssize_t L, const int64_t *tt,
                       const double *y, const double *keep, const double *A, const double *B,
                       int k, int act, double *m, double *out, Py_ssize_t ocs)

from kernel_common cimport (
    index_t, align64, offsets_ptr, data_ptr, onnxl_stream_copy,
    onnxl_stream_fence,
)

cnp.import_array()

cdef enum:
    # A chunk (the unit of work with its own [C][3] partial slot) is at least 16 tiles and
    # at least this many positions: many classes make tiles short, and short chunks would
    # make the slots O(positions * C / tile) instead of O(threads * C)-like.
    CHUNK_MIN_TILES = 16
    CHUNK_MIN_POSITIONS = 4096


cdef struct Plan:
    Py_ssize_t C, inner, tile, tiles_per_outer, chunk_tiles, chunks_per_outer, n_chunks
    Py_ssize_t per_sample
    Py_ssize_t scratch_stride
    int act                   # 0 identity, 1 softmax, 2 sigmoid
    int k                     # 1, or 2 when squared
    const int64_t *x_off
    Py_ssize_t x_ps, x_cs
    const int64_t *t_off      # integer targets
    Py_ssize_t t_ps
    const int64_t *y_off      # dense targets
    Py_ssize_t y_ps, y_cs
    const int64_t *m_off
    Py_ssize_t m_ps
    const int64_t *g_off
    Py_ssize_t g_ps, g_cs
    bint stream               # gradient tiles streamed out from scratch (stream_store.h)
    bint use_ii               # ignore_index is not None
    int64_t ignore_index
    const double *A           # (N, C) dL/dI, gradient pass only
    const double *B           # (N, C) dL/dP


cdef inline void tile_normalize(floating *prob, Py_ssize_t C, Py_ssize_t L,
                               const floating *keep, floating *s) noexcept nogil:
    if floating is float:
        tile_normalize_f32(prob, C, L, keep, s)
    else:
        tile_normalize_f64(prob, C, L, keep, s)


cdef inline void tile_activate(const floating *x, Py_ssize_t cs, Py_ssize_t C, Py_ssize_t L,
                               const floating *keep, int act, floating *prob) noexcept nogil:
    if floating is float:
        tile_activate_f32(x, cs, C, L, keep, act, prob)
    else:
        tile_activate_f64(x, cs, C, L, keep, act, prob)


cdef void _probabilities(const floating *x, const Plan *p, Py_ssize_t o, Py_ssize_t j0,
                         Py_ssize_t L, const floating *keep, floating *buf, floating *m,
                         floating *s, floating *prob) noexcept nogil:
    """prob[c * L + i] = activation of the logits of the tile, 0 where keep[i] == 0."""
    cdef Py_ssize_t C = p.C
    cdef const floating *xb = x + p.x_off[o] + j0 * p.x_ps
    cdef const floating *xt = xb
    cdef Py_ssize_t xcs = p.x_cs
    if p.x_ps != 1:
        tile_gather(xb, p.x_cs, p.x_ps, C, L, buf)
        xt = buf
        xcs = L
    if p.act == 1:
        tile_max(xt, xcs, C, L, m)
        # prefetch the next tile (in place, same sample) while this one is exp-bound
        tile_sumexp(xt, xcs, C, L, m, s, prob,
                    xb + L if p.x_ps == 1 and j0 + L < p.inner else NULL)
        tile_normalize(prob, C, L, keep, s)
    else:
        tile_activate(xt, xcs, C, L, keep, p.act, prob)


cdef void _chunk(const floating *x, const index_t *tg, const floating *y, const uint8_t *mk,
                 floating *g, const Plan *p, char *scr, Py_ssize_t o, Py_ssize_t q,
                 double *stats, int64_t *count) noexcept nogil:
    """Tiles [q * CHUNK, (q + 1) * CHUNK) of outer index o: statistics into stats[C][3] and
    count, or (g != NULL) the gradient."""
    cdef Py_ssize_t C = p.C, c, i, j0, L, kt, pos
    cdef Py_ssize_t blk = align64(C * p.tile * sizeof(floating)), vec = align64(p.tile * sizeof(floating))
    cdef floating *prob = <floating *> scr
    cdef floating *buf = <floating *> (scr + blk)
    cdef floating *gb = <floating *> (scr + 2 * blk)
    cdef floating *m = <floating *> (scr + 3 * blk)
    cdef floating *s = <floating *> (scr + 3 * blk + vec)
    cdef int64_t *tt = <int64_t *> (scr + 3 * blk + 2 * vec)
    cdef floating *keep = <floating *> (scr + 3 * blk + 2 * vec + align64(p.tile * 8))
    cdef int64_t t
    cdef Py_ssize_t n = o // p.per_sample
    cdef const double *An = p.A + n * C if p.A != NULL else NULL
    cdef const double *Bn = p.B + n * C if p.B != NULL else NULL
    cdef floating *gout
    cdef bint direct
    cdef Py_ssize_t gcs
    cdef const floating *yb = NULL
    for kt in range(q * p.chunk_tiles, min((q + 1) * p.chunk_tiles, p.tiles_per_outer)):
        j0 = kt * p.tile
        L = min(p.tile, p.inner - j0)
        for i in range(L):
            pos = j0 + i
            keep[i] = 1
            if mk != NULL and mk[p.m_off[o] + pos * p.m_ps] == 0:
                keep[i] = 0
            if tg != NULL:
                t = <int64_t> tg[p.t_off[o] + pos * p.t_ps]
                tt[i] = t
                if p.use_ii and t == p.ignore_index:
                    keep[i] = 0
            if keep[i] != 0:
                count[0] += 1
        _probabilities(x, p, o, j0, L, keep, buf, m, s, prob)
        yb = NULL
        if y != NULL:     # dense targets as a contiguous [C][L] block
            tile_gather(y + p.y_off[o] + j0 * p.y_ps, p.y_cs, p.y_ps, C, L, buf)
            yb = buf
        if g == NULL:
            if floating is float:
                dice_stats_f32(prob, C, L, tt, yb, keep, p.k, stats)
            else:
                dice_stats_f64(prob, C, L, tt, yb, keep, p.k, stats)
        else:
            direct = p.g_ps == 1 and not p.stream
            gout = g + p.g_off[o] + j0 * p.g_ps if direct else gb
            gcs = p.g_cs if direct else L
            if floating is float:
                dice_grad_f32(prob, C, L, tt, yb, keep, An, Bn, p.k, p.act, m, gout, gcs)
            else:
                dice_grad_f64(prob, C, L, tt, yb, keep, An, Bn, p.k, p.act, m, gout, gcs)
            if p.g_ps != 1:
                tile_scatter(gb, C, L, g + p.g_off[o] + j0 * p.g_ps, p.g_cs, p.g_ps)
            elif p.stream:
                for c in range(C):
                    onnxl_stream_copy(g + p.g_off[o] + j0 + c * p.g_cs, gb + c * L,
                                      L * sizeof(floating))
                onnxl_stream_fence()


cdef void _run(const floating *x, const index_t *tg, const floating *y, const uint8_t *mk,
               floating *g, const Plan *p, char *scratch, double *stats, int64_t *counts,
               int nthreads) noexcept nogil:
    cdef Py_ssize_t k, o, q
    with parallel(num_threads=nthreads):
        for k in prange(p.n_chunks, schedule="static"):
            o = k // p.chunks_per_outer
            q = k - o * p.chunks_per_outer
            _chunk(x, tg, y, mk, g, p, scratch + threadid() * p.scratch_stride, o, q,
                   stats + 3 * p.C * k, counts + k)


def run(walk, Py_ssize_t n_samples, x, Py_ssize_t x_cs, target, dense, Py_ssize_t y_cs, mask,
        grad, Py_ssize_t g_cs, int act, bint squared, ignore_index, A, B,
        Py_ssize_t tile, int nthreads, bint stream=False):
    """Statistics (grad is None): returns (stats (G, C, 3) float64 [I, P, T], counts (G,))
    for G = n_samples groups (the samples, or 1 when pooled).
    Gradient (grad given, A and B float64 (G, C)): writes grad, returns None.

    `walk` describes x, target, dense, mask, grad (positions only); its outer indices split
    evenly into the G groups, in order (per image: the sample axis is the first outer
    axis).  x, dense and grad share one float dtype.  Class-index targets must have passed
    the target scan (_target_scan.py): the kernel indexes statistics with them unchecked;
    ignore_index None ignores nothing.  `stream`: gradient tiles are built in
    scratch and streamed out (stream_store.h).
    """
    cdef Plan p
    cdef Py_ssize_t C = x.shape[1], n_outer = len(walk.offsets[0]), k, c, n
    p.C = C
    p.inner = walk.inner
    p.tile = tile
    p.tiles_per_outer = (walk.inner + tile - 1) // tile
    p.chunk_tiles = max(CHUNK_MIN_TILES, (CHUNK_MIN_POSITIONS + tile - 1) // tile)
    p.chunks_per_outer = (p.tiles_per_outer + p.chunk_tiles - 1) // p.chunk_tiles
    p.n_chunks = n_outer * p.chunks_per_outer
    p.per_sample = n_outer // n_samples
    p.act = act
    p.k = 2 if squared else 1
    p.x_off, p.x_ps, p.x_cs = offsets_ptr(walk.offsets[0]), walk.strides[0], x_cs
    p.t_off, p.t_ps = offsets_ptr(walk.offsets[1]), walk.strides[1]
    p.y_off, p.y_ps, p.y_cs = offsets_ptr(walk.offsets[2]), walk.strides[2], y_cs
    p.m_off, p.m_ps = offsets_ptr(walk.offsets[3]), walk.strides[3]
    p.g_off, p.g_ps, p.g_cs = offsets_ptr(walk.offsets[4]), walk.strides[4], g_cs
    p.stream = stream and grad is not None
    p.use_ii = ignore_index is not None
    p.ignore_index = ignore_index if p.use_ii else 0
    p.A = <const double *> data_ptr(A)
    p.B = <const double *> data_ptr(B)
    p.scratch_stride = 3 * align64(C * tile * x.itemsize) + 2 * align64(tile * x.itemsize) \
        + align64(tile * 8) + align64(tile * x.itemsize)
    cdef cnp.ndarray scratch = np.empty(max(nthreads, 1) * p.scratch_stride + 64, np.uint8)
    cdef char *scr = <char *> cnp.PyArray_DATA(scratch)
    scr = scr + ((64 - (<size_t> scr) % 64) % 64)
    # one [C][3] slot per chunk, statistics pass only (the gradient pass writes none)
    cdef cnp.ndarray part = np.zeros((p.n_chunks if grad is None else 0, C, 3),
                                     dtype=np.float64)
    cdef cnp.ndarray part_n = np.zeros(p.n_chunks, dtype=np.int64)
    cdef double *ps = <double *> cnp.PyArray_DATA(part)
    cdef int64_t *pn = <int64_t *> cnp.PyArray_DATA(part_n)
    cdef void *xp = data_ptr(x)
    cdef void *tp = data_ptr(target)
    cdef void *yp = data_ptr(dense)
    cdef const uint8_t *mp = <const uint8_t *> data_ptr(mask)
    cdef void *gp = data_ptr(grad)
    cdef int twidth = target.itemsize if target is not None else 8
    cdef bint single = x.dtype == np.float32
    with nogil:
        if single:
            if twidth == 1:
                _run(<const float *> xp, <const uint8_t *> tp, <const float *> yp, mp,
                     <float *> gp, &p, scr, ps, pn, nthreads)
            elif twidth == 2:
                _run(<const float *> xp, <const int16_t *> tp, <const float *> yp, mp,
                     <float *> gp, &p, scr, ps, pn, nthreads)
            elif twidth == 4:
                _run(<const float *> xp, <const int32_t *> tp, <const float *> yp, mp,
                     <float *> gp, &p, scr, ps, pn, nthreads)
            else:
                _run(<const float *> xp, <const int64_t *> tp, <const float *> yp, mp,
                     <float *> gp, &p, scr, ps, pn, nthreads)
        else:
            if twidth == 1:
                _run(<const double *> xp, <const uint8_t *> tp, <const double *> yp, mp,
                     <double *> gp, &p, scr, ps, pn, nthreads)
            elif twidth == 2:
                _run(<const double *> xp, <const int16_t *> tp, <const double *> yp, mp,
                     <double *> gp, &p, scr, ps, pn, nthreads)
            elif twidth == 4:
                _run(<const double *> xp, <const int32_t *> tp, <const double *> yp, mp,
                     <double *> gp, &p, scr, ps, pn, nthreads)
            else:
                _run(<const double *> xp, <const int64_t *> tp, <const double *> yp, mp,
                     <double *> gp, &p, scr, ps, pn, nthreads)
    if grad is not None:
        return None
    # chunks of one sample are consecutive; numpy adds them in a fixed (pairwise) order
    cdef Py_ssize_t per = p.per_sample * p.chunks_per_outer
    if per == 1:       # one chunk per sample: the slots are the statistics (no N*C copy)
        return part.reshape(n_samples, C, 3), part_n
    stats = part.reshape(n_samples, per, C, 3).sum(axis=1)
    counts = part_n.reshape(n_samples, per).sum(axis=1)
    return stats, counts
