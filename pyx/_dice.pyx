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

A softmax loss beside the Dice term (a fused combined loss: cross-entropy with its class
weights and label smoothing, or softmax focal, on the same logits and class-index targets,
counting the same positions): the statistics pass also sums its per-position losses (the
per-position formulas of softmax_loops.h, one partial per tile, added in tile order as
_cross_entropy.pyx does), and the gradient pass adds its gradient (dice_loops.h); the
exponentials are taken once for both.

Layout and determinism: per image, the position walk keeps the sample axis outermost, so a
tile never spans two samples (pooled, the caller merges samples into one group); tiles are
grouped into fixed chunks whose partial sums land in their own
slots and are added in chunk order.  Nothing depends on the thread count.
"""
import numpy as np
cimport numpy as cnp
from cython cimport floating
from cython.parallel cimport prange, parallel, threadid
from libc.stdint cimport int64_t, uint8_t

from softmax_loops cimport (
    tile_max, tile_sumexp, tile_gather, tile_scatter, tile_lse, tile_wdot, tile_hard, tile_focal,
)

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
                       int k, int act, const float *ta, const float *tb, const double *tw,
                       const double *tfix, float *m, float *out, Py_ssize_t ocs)
    void dice_grad_f64(const double *prob, Py_ssize_t C, Py_ssize_t L, const int64_t *tt,
                       const double *y, const double *keep, const double *A, const double *B,
                       int k, int act, const double *ta, const double *tb, const double *tw,
                       const double *tfix, double *m, double *out, Py_ssize_t ocs)

from targets cimport onnxl_targets_tile
from kernel_common cimport (
    Operand, operand, at, Carver, carve, data_ptr, fitted_tile, onnxl_stream_copy,
    onnxl_stream_fence,
)
from cpython.mem cimport PyMem_RawMalloc, PyMem_RawFree

cnp.import_array()

cdef enum:
    # A chunk (the unit of work with its own [C][3] partial slot) is at least 16 tiles and
    # at least this many positions: many classes make tiles short, and short chunks would
    # make the slots O(positions * C / tile) instead of O(threads * C)-like.
    CHUNK_MIN_TILES = 16
    CHUNK_MIN_POSITIONS = 4096


cdef struct SoftmaxTerm:
    # cross-entropy (weights w, label smoothing eps) or, focal, softmax focal (w = alpha)
    bint on
    bint focal
    const double *w           # NULL: all ones
    double W                  # sum of w over classes
    double eps
    double gamma
    double scale              # gradient pass: d(combined loss)/d(per-position loss)


cdef struct Plan:
    Py_ssize_t C, inner, tile, tiles_per_outer, chunk_tiles, chunks_per_outer, n_chunks
    Py_ssize_t per_sample
    Py_ssize_t scratch_stride
    int act                   # onnxl_activation
    int k                     # 1, or 2 when squared
    Operand x                 # logits or probabilities: positions and classes
    Operand t                 # class-index targets (data NULL with dense targets)
    int t_width               # their width in bytes
    Operand y                 # dense targets
    Operand m                 # mask (uint8)
    Operand g                 # gradient (data NULL: the statistics pass)
    bint stream               # gradient tiles streamed out from scratch (stream_store.h)
    bint buf_on, gb_on        # whether the plan uses Scratch.buf, Scratch.gb
    bint use_ii               # ignore_index is not None
    int64_t ignore_index
    const double *A           # (N, C) dL/dI, gradient pass only
    const double *B           # (N, C) dL/dP
    SoftmaxTerm term          # a softmax loss computed beside the statistics (term.on)


cdef extern from "dice_loops.h":
    # the activation that turns the input into probabilities (`act` below)
    cpdef enum onnxl_activation:
        ONNXL_ACT_IDENTITY
        ONNXL_ACT_SOFTMAX
        ONNXL_ACT_SIGMOID


cdef struct Scratch:
    char *prob                # [C][tile] of T: probabilities
    char *buf                 # [C][tile]: gathered logits, then dense targets
    char *gb                  # [C][tile]: gradient before it is scattered or streamed
    char *m                   # [tile] of T: max over classes, then dice_grad's workspace
    char *s                   # [tile]: sum of exponentials
    char *keep                # [tile]: 1 where counted, else 0, in T
    int64_t *tt               # [tile]: class index where counted, 0 elsewhere
    uint8_t *cnt              # [tile]: counted
    # the softmax term's, per position (sizes 0 without one)
    double *lse               # log sum exp
    double *d1                # double scratch (label smoothing's sum w_c x_c; focal's nll)
    double *d2                # double scratch (per-position losses; focal's q^gamma)
    double *fix               # gradient at the target class
    char *ta                  # [tile] of T: gradient coefficient of p_c
    char *tb                  # [tile] of T: of w_c (label smoothing)
    char *ones                # [tile] of T: 1 (the sum of p over classes, for ta)


cdef Py_ssize_t _scratch_layout(char *base, Py_ssize_t C, Py_ssize_t tile, Py_ssize_t isz,
                                bint term, bint buf, bint gb, Scratch *sc) noexcept nogil:
    """Carve one thread's scratch block (base NULL: only size it); returns its size.  buf
    and gb only where the plan uses them (logits gathered or dense targets; a gradient
    scattered or streamed)."""
    cdef Carver c
    cdef Py_ssize_t tl = tile if term else 0
    c.base = base
    c.used = 0
    sc.prob = carve(&c, C * tile * isz)
    sc.buf = carve(&c, C * tile * isz if buf else 0)
    sc.gb = carve(&c, C * tile * isz if gb else 0)
    sc.m = carve(&c, tile * isz)
    sc.s = carve(&c, tile * isz)
    sc.keep = carve(&c, tile * isz)
    sc.tt = <int64_t *> carve(&c, tile * 8)
    sc.cnt = <uint8_t *> carve(&c, tile)
    sc.lse = <double *> carve(&c, tl * 8)
    sc.d1 = <double *> carve(&c, tl * 8)
    sc.d2 = <double *> carve(&c, tl * 8)
    sc.fix = <double *> carve(&c, tl * 8)
    sc.ta = carve(&c, tl * isz)
    sc.tb = carve(&c, tl * isz)
    sc.ones = carve(&c, tl * isz)
    return c.used


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


cdef double _softmax_term(const floating *xt, Py_ssize_t xcs, const Plan *p, Py_ssize_t L,
                          const Scratch *sc, const floating *m, const floating *s,
                          bint want_grad) noexcept nogil:
    """The softmax term of a tile from its logits xt, max m and sum of exponentials s:
    returns the sum of its per-position losses; with want_grad, its gradient coefficients
    (sc.ta, sc.tb, sc.fix: see dice_grad_onehot) instead, scaled by p.term.scale.  The
    losses come from _cross_entropy.pyx's per-position formulas (tile_hard, tile_focal),
    so a tile's sum has cross-entropy's own bits; the gradient's coefficient of p_c is
    theirs of e_c taken with s = 1 (sc.ones)."""
    cdef const SoftmaxTerm *u = &p.term
    cdef floating *ta = <floating *> sc.ta if want_grad else NULL
    cdef floating *tb = <floating *> sc.tb
    cdef double qa = 1.0 - u.eps, qb = u.eps / p.C
    cdef Py_ssize_t i
    tile_lse(m, s, L, sc.lse)
    if u.focal:
        return tile_focal(L, xt, xcs, sc.tt, sc.cnt, sc.lse, u.w, u.gamma, u.scale,
                          <const floating *> sc.ones, sc.d1, sc.d2, sc.fix, ta, tb, sc.fix)
    if u.eps > 0:
        if want_grad:
            # the losses are not wanted, nor their smoothing sums: the coefficients are not
            # functions of them
            for i in range(L):
                sc.d1[i] = 0.0
        else:
            tile_wdot(xt, xcs, p.C, L, u.w, sc.d1)
    return tile_hard(L, xt, xcs, sc.tt, sc.cnt, sc.lse, u.w, qa, qb, u.W,
                     sc.d1 if u.eps > 0 else NULL, u.scale, <const floating *> sc.ones,
                     sc.d2, ta, tb, sc.fix)


cdef double _probabilities(const floating *x, const Plan *p, Py_ssize_t o, Py_ssize_t j0,
                           Py_ssize_t L, const Scratch *sc, const floating *keep,
                           floating *buf, floating *m, floating *s,
                           floating *prob) noexcept nogil:
    """prob[c * L + i] = activation of the logits of the tile, 0 where keep[i] == 0.
    Returns the sum of the softmax term's losses over the tile (0 without one; with a
    gradient, its coefficients are left in sc instead)."""
    cdef Py_ssize_t C = p.C
    cdef double term = 0.0
    cdef const floating *xb = x + at(&p.x, o, j0)
    cdef const floating *xt = xb
    cdef Py_ssize_t xcs = p.x.cs
    if p.x.ps != 1:
        # the next tile of this run, prefetched while this one is gathered
        tile_gather(xb, p.x.cs, p.x.ps, C, L, buf,
                    xb + L * p.x.ps if j0 + L < p.inner else NULL,
                    min(p.tile, p.inner - j0 - L))
        xt = buf
        xcs = L
    if p.act == ONNXL_ACT_SOFTMAX:
        tile_max(xt, xcs, C, L, m)
        # prefetch the next tile (in place, same sample) while this one is exp-bound
        tile_sumexp(xt, xcs, C, L, m, s, prob,
                    xb + L if p.x.ps == 1 and j0 + L < p.inner else NULL)
        if p.term.on:     # while s is the sum of the exponentials
            term = _softmax_term(xt, xcs, p, L, sc, m, s, p.g.data != NULL)
        tile_normalize(prob, C, L, keep, s)
    else:
        tile_activate(xt, xcs, C, L, keep, p.act, prob)
    return term


cdef void _chunk(const floating *x, const Plan *p, char *scr, Py_ssize_t o, Py_ssize_t q,
                 double *stats, int64_t *count, double *term_part) noexcept nogil:
    """Tiles [q * CHUNK, (q + 1) * CHUNK) of outer index o: statistics into stats[C][3] and
    count, and each tile's softmax term into term_part[tile] (term_part is indexed by the
    tile's number o * tiles_per_outer + kt), or (p.g given) the gradient."""
    cdef Scratch sc
    _scratch_layout(scr, p.C, p.tile, sizeof(floating), p.term.on, p.buf_on, p.gb_on, &sc)
    cdef floating *ones = <floating *> sc.ones
    cdef Py_ssize_t C = p.C, c, i, j0, L, kt
    cdef floating *prob = <floating *> sc.prob
    cdef floating *buf = <floating *> sc.buf
    cdef floating *gb = <floating *> sc.gb
    cdef floating *m = <floating *> sc.m
    cdef floating *keep = <floating *> sc.keep
    cdef floating *g = <floating *> p.g.data
    cdef const uint8_t *mb
    cdef Py_ssize_t n = o // p.per_sample
    cdef const double *An = p.A + n * C if p.A != NULL else NULL
    cdef const double *Bn = p.B + n * C if p.B != NULL else NULL
    cdef floating *gout
    cdef bint direct
    cdef Py_ssize_t gcs
    cdef const floating *yb = NULL
    cdef double term
    if p.term.on:
        for i in range(p.tile):
            ones[i] = 1
    for kt in range(q * p.chunk_tiles, min((q + 1) * p.chunk_tiles, p.tiles_per_outer)):
        j0 = kt * p.tile
        L = min(p.tile, p.inner - j0)
        # counted positions: mask set and target not ignore_index (targets.h)
        mb = <const uint8_t *> p.m.data + at(&p.m, o, j0) if p.m.data != NULL else NULL
        if p.t.data != NULL:
            onnxl_targets_tile(p.t.data, p.t_width, at(&p.t, o, j0), p.t.ps, mb, p.m.ps, L,
                               p.use_ii, p.ignore_index, sc.tt, sc.cnt)
        else:
            for i in range(L):
                sc.cnt[i] = 1 if mb == NULL or mb[i * p.m.ps] != 0 else 0
        for i in range(L):
            keep[i] = sc.cnt[i]
            count[0] += sc.cnt[i]
        term = _probabilities(x, p, o, j0, L, &sc, keep, buf, m, <floating *> sc.s, prob)
        if p.term.on and g == NULL:
            term_part[o * p.tiles_per_outer + kt] = term
        yb = NULL
        if p.y.data != NULL:     # dense targets as a contiguous [C][L] block
            tile_gather(<const floating *> p.y.data + at(&p.y, o, j0), p.y.cs, p.y.ps, C, L,
                        buf)
            yb = buf
        if g == NULL:
            if floating is float:
                dice_stats_f32(prob, C, L, sc.tt, yb, keep, p.k, stats)
            else:
                dice_stats_f64(prob, C, L, sc.tt, yb, keep, p.k, stats)
        else:
            direct = p.g.ps == 1 and not p.stream
            gout = g + at(&p.g, o, j0) if direct else gb
            gcs = p.g.cs if direct else L
            if floating is float:
                dice_grad_f32(prob, C, L, sc.tt, yb, keep, An, Bn, p.k, p.act,
                              <float *> sc.ta if p.term.on else NULL,
                              <float *> sc.tb if p.term.on and p.term.eps > 0 else NULL,
                              p.term.w, sc.fix, m, gout, gcs)
            else:
                dice_grad_f64(prob, C, L, sc.tt, yb, keep, An, Bn, p.k, p.act,
                              <double *> sc.ta if p.term.on else NULL,
                              <double *> sc.tb if p.term.on and p.term.eps > 0 else NULL,
                              p.term.w, sc.fix, m, gout, gcs)
            if p.g.ps != 1:
                tile_scatter(gb, C, L, g + at(&p.g, o, j0), p.g.cs, p.g.ps, p.stream)
            elif p.stream:
                for c in range(C):
                    onnxl_stream_copy(g + at(&p.g, o, j0) + c * p.g.cs, gb + c * L,
                                      L * sizeof(floating))
                onnxl_stream_fence()


cdef void _run(const floating *x, const Plan *p, char *scratch, double *stats,
               int64_t *counts, double *term_part, int nthreads) noexcept nogil:
    cdef Py_ssize_t k
    if nthreads <= 1:       # no parallel region: a small call's whole kernel is cheaper
        for k in range(p.n_chunks):
            _numbered_chunk(x, p, scratch, stats, counts, term_part, k)
        return
    with parallel(num_threads=nthreads):
        for k in prange(p.n_chunks, schedule="static"):
            _numbered_chunk(x, p, scratch + threadid() * p.scratch_stride, stats, counts,
                            term_part, k)


cdef inline void _numbered_chunk(const floating *x, const Plan *p, char *scratch,
                                 double *stats, int64_t *counts, double *term_part,
                                 Py_ssize_t k) noexcept nogil:
    """Chunk k, its statistics into slot k (the same chunk whichever thread runs it)."""
    cdef Py_ssize_t o = k // p.chunks_per_outer
    cdef Py_ssize_t q = k - o * p.chunks_per_outer
    _chunk(x, p, scratch, o, q, stats + 3 * p.C * k, counts + k, term_part)


cdef inline Py_ssize_t _class_stride(arr):
    return arr.strides[1] // arr.itemsize if arr is not None else 0


cdef class Launch:
    """The Dice kernel prepared for arrays of fixed headers: the walk, chunks, strides and
    scratch size decided once (`Launch(walk, n_samples, x, target, dense, mask, grad, act,
    squared, tile, stream, term)`); each `run` sets the arrays' data, ignore_index, the
    coefficients, the softmax term's scalars and the threads.  Every call's arrays must have
    the headers (dtypes, shapes, strides; present or absent) of the arrays it was made from:
    a driver keeps one per remembered plan.

    `run(x, target, dense, mask, grad, ignore_index, A, B, nthreads, softmax_term)`:
    statistics (grad None): returns (stats (G, C, 3) float64 [I, P, T], counts (G,)) for
    G = n_samples groups (the samples, or 1 when pooled); gradient (grad given, A and B
    float64 (G, C) dL/dI and dL/dP): writes grad, returns None.

    `walk` describes x, target, dense, mask, grad (positions only, in that order; None for
    an absent one); its outer indices split evenly into the G groups, in order (per image:
    the sample axis is the first outer axis).  Arrays with a class axis have it at axis 1.
    x, dense and grad share one float dtype.  Class-index targets must have passed the
    target scan (_target_scan.py): the kernel indexes statistics with them unchecked;
    ignore_index None ignores nothing.  `act`: ONNXL_ACT_IDENTITY, _SOFTMAX or _SIGMOID.
    `stream`: gradient tiles are built in scratch and streamed out (stream_store.h).

    `term` (act softmax, class-index targets): a softmax loss beside the Dice statistics,
    whose `softmax_term` each run gives as (weight, label_smoothing, focal_gamma, scale):
    weight float64 (C,) or None (focal: alpha), focal_gamma None for cross-entropy, scale
    the gradient's factor.  The statistics pass then returns (stats, counts, sum of the
    term's per-position losses) and the gradient pass adds the term's gradient.
    """
    cdef Plan p
    cdef object walk            # owns the offsets the operands point into
    cdef Py_ssize_t n_samples, n_outer
    cdef bint single

    def __init__(self, walk, Py_ssize_t n_samples, x, target, dense, mask, grad, int act,
                 bint squared, Py_ssize_t tile, bint stream, bint term):
        cdef Plan *p = &self.p
        cdef Py_ssize_t C = x.shape[1], n_outer = len(walk.offsets[0])
        cdef Scratch sizing
        if term and (act != ONNXL_ACT_SOFTMAX or target is None):
            raise ValueError("a softmax term needs the softmax activation and class indices")
        self.walk = walk
        self.n_samples = n_samples
        self.n_outer = n_outer
        self.single = x.itemsize == 4
        tile = fitted_tile(tile, walk.inner)
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
        p.x = operand(x, walk.offsets[0], walk.strides[0], _class_stride(x))
        p.t = operand(target, walk.offsets[1], walk.strides[1])
        p.t_width = target.itemsize if target is not None else 8
        p.y = operand(dense, walk.offsets[2], walk.strides[2], _class_stride(dense))
        p.m = operand(mask, walk.offsets[3], walk.strides[3])
        p.g = operand(grad, walk.offsets[4], walk.strides[4], _class_stride(grad))
        p.stream = stream and grad is not None
        p.term.on = term
        p.buf_on = p.x.ps != 1 or dense is not None
        p.gb_on = grad is not None and (p.g.ps != 1 or p.stream)
        p.scratch_stride = _scratch_layout(NULL, C, tile, x.itemsize, term, p.buf_on, p.gb_on,
                                           &sizing)

    def run(self, x, target, dense, mask, grad, ignore_index, A, B, int nthreads,
            softmax_term):
        """The statistics, or the gradient written (see the class), of these arrays."""
        cdef Plan p = self.p
        cdef Py_ssize_t C = p.C, n_samples = self.n_samples
        cdef cnp.ndarray term_w = None
        p.x.data = <char *> data_ptr(x)
        p.t.data = <char *> data_ptr(target)
        p.y.data = <char *> data_ptr(dense)
        p.m.data = <char *> data_ptr(mask)
        p.g.data = <char *> data_ptr(grad)
        p.use_ii = ignore_index is not None
        p.ignore_index = ignore_index if p.use_ii else 0
        p.A = <const double *> data_ptr(A)
        p.B = <const double *> data_ptr(B)
        p.term.w = NULL
        p.term.W = C
        p.term.eps = 0.0
        p.term.focal = False
        p.term.gamma = 0.0
        p.term.scale = 0.0
        if (softmax_term is not None) != p.term.on:
            raise ValueError("a softmax term must be asked for when the launch is made")
        if p.term.on:
            weight, eps, gamma, scale = softmax_term
            if weight is not None:
                term_w = np.ascontiguousarray(weight, dtype=np.float64)
                if term_w.shape[0] != C:
                    raise ValueError(f"the softmax term's weight has {term_w.shape[0]} "
                                     f"entries for {C} classes")
                p.term.w = <const double *> cnp.PyArray_DATA(term_w)
                p.term.W = float(term_w.sum())
            p.term.eps = eps
            p.term.focal = gamma is not None
            p.term.gamma = gamma if gamma is not None else 0.0
            p.term.scale = scale
        # no more threads than chunks: a small call starts no thread that would find no
        # work (the chunks, not the threads, fix every bit)
        nthreads = max(1, min(nthreads, p.n_chunks))
        # one softmax-term partial per tile, statistics pass only
        cdef Py_ssize_t n_tiles = self.n_outer * p.tiles_per_outer \
            if p.term.on and grad is None else 0
        # one [C][3] slot per chunk, statistics pass only (the gradient pass writes none)
        cdef cnp.ndarray part = np.zeros((p.n_chunks if grad is None else 0, C, 3),
                                         dtype=np.float64)
        cdef cnp.ndarray part_n = np.zeros(p.n_chunks, dtype=np.int64)
        cdef double *ps = <double *> cnp.PyArray_DATA(part)
        cdef int64_t *pn = <int64_t *> cnp.PyArray_DATA(part_n)
        # raw memory for the threads' scratch and the term's partials (a small call's NumPy
        # arrays cost more than its kernel), which tracemalloc still sees
        cdef char *block = <char *> PyMem_RawMalloc(nthreads * p.scratch_stride + 64 +
                                                    n_tiles * sizeof(double))
        if block == NULL:
            raise MemoryError("no memory for the kernel's scratch")
        cdef char *scr = block + (64 - (<size_t> block) % 64) % 64
        cdef double *tp = <double *> (scr + nthreads * p.scratch_stride)
        cdef double term_total = 0.0
        cdef Py_ssize_t k
        with nogil:
            # the one dispatch: on the float type (targets are read in any width by
            # targets.h)
            if self.single:
                _run(<const float *> p.x.data, &p, scr, ps, pn, tp, nthreads)
            else:
                _run(<const double *> p.x.data, &p, scr, ps, pn, tp, nthreads)
            # fixed order: tile 0, 1, 2, ... (as _cross_entropy.Launch.run adds its tiles)
            for k in range(n_tiles):
                term_total += tp[k]
            PyMem_RawFree(block)
        if grad is not None:
            return None
        # chunks of one sample are consecutive; numpy adds them in a fixed (pairwise) order
        cdef Py_ssize_t per = p.per_sample * p.chunks_per_outer
        if per == 1:    # one chunk per sample: the slots are the statistics (no N*C copy)
            stats, counts = part.reshape(n_samples, C, 3), part_n
        else:
            stats = part.reshape(n_samples, per, C, 3).sum(axis=1)
            counts = part_n.reshape(n_samples, per).sum(axis=1)
        if p.term.on:
            return stats, counts, term_total
        return stats, counts
