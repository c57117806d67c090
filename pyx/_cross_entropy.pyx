# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Fused cross-entropy / NLL kernel: value, per-position losses and gradient in one pass.

Layout.  The Python layer describes every array by the same decomposition of the positions
(N, d1, ..., dk): `n_outer` outer indices, each with an element offset per array, times
`inner` positions with a per-array stride.  Logits (and probability targets, gradients) also
have a class stride.  Nothing is copied: any memory order, negative strides included.

Work split.  Positions are cut into fixed tiles of `tile` positions along the inner axis
(never across outer indices).  prange hands tiles to threads; every tile writes its own loss
partial, and the partials are added serially in tile order afterwards.  Tiles do not depend
on the thread count, so neither does any bit of the result.

Two loop shapes.  Classes contiguous (channels-last, (N, C) matrices): per position, loops
over the C classes (row_* in softmax_loops.h).  Otherwise: per tile, loops over positions
for each class (tile_*), on the logits in place when positions are contiguous (NCHW) or on a
gathered copy of the tile.  The exponentials of the first pass stay in a per-thread buffer
for the gradient, so each logit is read from memory once and exp'd once.

Every loop takes a position's loss and gradient coefficients from the per-position formulas
of softmax_loops.h (onnxl_ce_index, onnxl_ce_probabilities, onnxl_focal_index), so the
tile, row and general loops cannot disagree.  Operands are described by one struct each
(kernel_common.pxd: Operand); per-thread scratch is laid out by _scratch_layout alone.

Targets.  Launch.run scans the class-index targets before the kernel reads a logit (the one
range check of class indices, targets.h, along the kernel's walk): with a counted target
outside [0, C) it reports it and the kernel does not run.  The scan's counts give the mean's
denominator, so the gradient's scale is known before the fused pass.

The caller guarantees: all offsets and strides address inside their arrays, and
Launch.run's g0 is the gradient of the reduction.
"""
import numpy as np
cimport numpy as cnp
from cython cimport floating
from cython.parallel cimport prange, parallel, threadid
from libc.math cimport log
from libc.string cimport memset
from libc.stdint cimport int64_t, uint8_t, int16_t, int32_t

from softmax_loops cimport (
    tile_max, tile_sumexp, tile_lse, tile_wdot, tile_qdot, tile_grad, tile_grad_positions,
    tile_gather, tile_scatter,
    row_max, row_sumexp, row_wdot, row_qdot, row_grad, focal_terms, tile_hard, tile_focal,
    onnxl_prefetch, onnxl_ce_index, onnxl_ce_index_fix, onnxl_ce_probabilities,
    onnxl_focal_index, onnxl_focal_index_fix, onnxl_grad_kind, ONNXL_GRAD_PLAIN,
    ONNXL_GRAD_SMOOTHED, ONNXL_GRAD_PROBABILITIES,
)
from targets cimport onnxl_targets_tile, onnxl_targets_scan
from cpython.mem cimport PyMem_RawMalloc, PyMem_RawFree
from kernel_common cimport (
    Operand, operand, at, Carver, carve, data_ptr, fitted_tile,
)

cnp.import_array()

cdef enum:
    SMALL_TILES = 16      # per-tile partials of up to this many tiles live on the stack
    SCAN_TILE = 4096      # targets per scan tile (the kernel's tiles are too short for it)
    SCAN_PARALLEL_MIN = 16384

cdef struct Plan:
    Py_ssize_t C, inner, tile, tiles_per_outer, n_tiles, scratch_stride
    Operand x                # logits (log-probabilities for NLL): positions and classes
    Operand t                # class-index targets (data NULL with probability targets)
    int t_width              # their width in bytes (uint8, int16, int32, int64)
    Operand q                # probability targets
    Operand m                # mask (uint8)
    Operand g                # gradient (data NULL: value only)
    Operand go               # grad_output per position (reduction "none")
    Operand lo               # per-position losses (reduction "none")
    bint use_ii              # ignore_index applies (it is not None)
    int64_t ignore_index
    const double *weight     # NULL: all ones
    double weight_total      # sum of weight over classes
    double eps               # label smoothing
    double scale             # d(reduction)/d(per-position loss) when go is absent
    bint nll                 # logits are log-probabilities already: no softmax
    bint rows                # classes contiguous: row loops
    bint focal               # softmax focal loss: weight holds alpha
    double gamma
    bint stream              # gradient tiles built in scratch, streamed out (stream_store.h)
    bint buf_e, buf_x, buf_q, buf_g    # the [C][tile] scratch blocks this plan uses


cdef struct Scratch:
    # per position of a tile (or of a row tile), in the input's float type T
    char *m                  # max over classes
    char *s                  # sum of exponentials
    char *a                  # gradient coefficient of e_c
    char *b                  # gradient coefficient of k_c
    char *keep               # 1 where counted, else 0 (the gradient pass)
    char *tf                 # the class index where counted, as T
    char *fixt               # fix, rounded to T
    # per position, double
    double *acc1
    double *acc2
    double *fix              # gradient term at the target class
    double *lse
    int64_t *tt              # class index where counted, 0 elsewhere
    uint8_t *cnt             # counted
    # [C][tile] blocks of T (rows: e is [tile][C] with a gradient, absent without)
    char *e                  # exponentials, then the gradient when streamed
    char *xbuf               # gathered logits
    char *qbuf               # gathered probability targets
    char *gbuf               # gradient before it is scattered


cdef Py_ssize_t _scratch_layout(char *base, Py_ssize_t C, Py_ssize_t tile, Py_ssize_t isz,
                                bint e, bint xbuf, bint qbuf, bint gbuf,
                                Scratch *sc) noexcept nogil:
    """Carve one thread's scratch block (base NULL: only size it); returns its size.  The
    [C][tile] blocks (rows: e is [tile][C]) only where the plan uses them: e, the
    exponentials kept for a gradient; xbuf, qbuf, logits and probability targets gathered
    from a layout whose positions are not contiguous; gbuf, a gradient built before it is
    scattered or streamed (a forward's scratch stays O(tile), not O(C x tile))."""
    cdef Carver c
    cdef Py_ssize_t block = C * tile * isz
    c.base = base
    c.used = 0
    sc.m = carve(&c, tile * isz)
    sc.s = carve(&c, tile * isz)
    sc.a = carve(&c, tile * isz)
    sc.b = carve(&c, tile * isz)
    sc.keep = carve(&c, tile * isz)
    sc.tf = carve(&c, tile * isz)
    sc.fixt = carve(&c, tile * isz)
    sc.acc1 = <double *> carve(&c, tile * 8)
    sc.acc2 = <double *> carve(&c, tile * 8)
    sc.fix = <double *> carve(&c, tile * 8)
    sc.lse = <double *> carve(&c, tile * 8)
    sc.tt = <int64_t *> carve(&c, tile * 8)
    sc.cnt = <uint8_t *> carve(&c, tile)
    sc.e = carve(&c, block if e else 0)
    sc.xbuf = carve(&c, block if xbuf else 0)
    sc.qbuf = carve(&c, block if qbuf else 0)
    sc.gbuf = carve(&c, block if gbuf else 0)
    return c.used


cdef Scratch _thread_scratch(const Plan *p, char *block, Py_ssize_t isz) noexcept nogil:
    """A thread's buffers, carved once per call (the row tiles are short: carving per tile
    showed in NLL's forward on (65536, 1000))."""
    cdef Scratch sc
    _scratch_layout(block, p.C, p.tile, isz, p.buf_e, p.buf_x, p.buf_q, p.buf_g, &sc)
    return sc


cdef void _counted(const Plan *p, Py_ssize_t o, Py_ssize_t j0, Py_ssize_t L,
                   Scratch *sc) noexcept nogil:
    """tt and cnt of a tile: the class index where counted (0 elsewhere, so that gathers by
    tt never leave the tile), and whether it is (mask set, target not ignore_index)."""
    cdef const uint8_t *mb = NULL
    cdef Py_ssize_t i
    if p.m.data != NULL:
        mb = <const uint8_t *> p.m.data + at(&p.m, o, j0)
    if p.t.data != NULL:
        onnxl_targets_tile(p.t.data, p.t_width, at(&p.t, o, j0), p.t.ps, mb, p.m.ps, L,
                           p.use_ii, p.ignore_index, sc.tt, sc.cnt)
    else:
        for i in range(L):
            sc.tt[i] = 0
            sc.cnt[i] = 1 if mb == NULL or mb[i * p.m.ps] != 0 else 0


cdef inline onnxl_grad_kind _grad_kind(const Plan *p) noexcept nogil:
    if p.t.data == NULL:
        return ONNXL_GRAD_PROBABILITIES
    return ONNXL_GRAD_SMOOTHED if p.eps > 0 else ONNXL_GRAD_PLAIN


cdef inline double _positions(const floating *xt, Py_ssize_t xcs, const Scratch *sc,
                              floating *lo_b, const floating *go_b, const Plan *p,
                              Py_ssize_t L) noexcept nogil:
    """The general per-position loop (focal, probability targets, reduction "none",
    per-position grad_output): loss terms and gradient coefficients a, b, fix."""
    cdef const double *w = p.weight
    cdef const double *lse = sc.lse
    cdef const double *acc1 = sc.acc1
    cdef const double *acc2 = sc.acc2
    cdef double *fix = sc.fix
    cdef const floating *s = <const floating *> sc.s
    cdef floating *a = <floating *> sc.a
    cdef floating *b = <floating *> sc.b
    cdef double qa = 1.0 - p.eps, qb = p.eps / p.C
    cdef bint hard = p.t.data != NULL, smooth = p.eps > 0, want_grad = p.g.data != NULL
    cdef Py_ssize_t lo_ps = p.lo.ps, go_ps = p.go.ps, i
    cdef int64_t t
    cdef double li, wt = 1.0, loss, coef, gi, f, total = 0.0
    for i in range(L):
        if not sc.cnt[i]:
            if lo_b != NULL:
                lo_b[i * lo_ps] = 0
            a[i] = 0
            b[i] = 0
            continue
        li = 0.0 if p.nll else lse[i]
        gi = (go_b[i * go_ps] if go_b != NULL else p.scale) if want_grad else 0.0
        if hard:
            t = sc.tt[i]
            wt = w[t] if w != NULL else 1.0
            if p.focal:
                # acc1 = nll, acc2 = (1 - p_t)^gamma, fix = c (focal_terms)
                loss = onnxl_focal_index(wt, acc2[i], acc1[i])
                f = onnxl_focal_index_fix(gi, wt, fix[i])
                a[i] = <floating> (f / s[i])
                b[i] = 0
                fix[i] = f
            else:
                loss = onnxl_ce_index(li, <double> xt[t * xcs + i], wt, smooth, qa, qb,
                                      p.weight_total, acc1[i] if smooth else 0.0, &coef)
                a[i] = <floating> (0.0 if p.nll else gi * coef / s[i])
                b[i] = <floating> (gi * qb)
                fix[i] = onnxl_ce_index_fix(gi, qa, wt)
        else:
            loss = onnxl_ce_probabilities(li, acc1[i], acc2[i])
            a[i] = <floating> (gi * acc2[i] / s[i])
            b[i] = <floating> gi
        if lo_b != NULL:
            lo_b[i * lo_ps] = <floating> loss
        total += loss
    return total


cdef enum:
    # how far ahead NLL's row loop asks for a row's entry.  8 looked better on one thread,
    # but at two threads, interleaved builds, 24 (with the first rows of a tile asked for
    # up front) was faster: (2097152, 21) 5.5-6.3 ms against 6.7-7.8 without those,
    # and against 7.2 at 8 rows
    PREFETCH_ROWS = 24


# NLL's forward over rows reads one target a row and nothing else: there, and only there, the
# target width is a compile-time type (a per-row width switch, or a tile pass first, cost
# 10% of that loop on (65536, 1000)).
ctypedef fused target_t:
    uint8_t
    int16_t
    int32_t
    int64_t


cdef inline int64_t _nll_entry(const target_t *tg, const Plan *p, Py_ssize_t o,
                               Py_ssize_t pos) noexcept nogil:
    """x's element index of the target entry of a row (column 0 for an ignored or bad one)."""
    cdef int64_t t = <int64_t> tg[at(&p.t, o, pos)]
    if t < 0 or t >= p.C:
        t = 0
    return at(&p.x, o, pos) + t * p.x.cs


cdef double _nll_rows_of(const floating *x, const target_t *tg, const Plan *p, Py_ssize_t o,
                         Py_ssize_t j0, Py_ssize_t L) noexcept nogil:
    cdef Py_ssize_t i, pos
    cdef int64_t t
    cdef double total = 0.0, wt
    cdef const uint8_t *mk = <const uint8_t *> p.m.data
    for i in range(min(PREFETCH_ROWS, L)):
        onnxl_prefetch(x + _nll_entry(tg, p, o, j0 + i))
    for i in range(L):
        pos = j0 + i
        if i + PREFETCH_ROWS < L:
            onnxl_prefetch(x + _nll_entry(tg, p, o, pos + PREFETCH_ROWS))
        if mk != NULL and mk[at(&p.m, o, pos)] == 0:
            continue
        t = <int64_t> tg[at(&p.t, o, pos)]
        if p.use_ii and t == p.ignore_index:
            continue
        wt = p.weight[t] if p.weight != NULL else 1.0
        total += wt * (0.0 - <double> x[at(&p.x, o, pos) + t * p.x.cs])
    return total


cdef double _nll_rows(const floating *x, const Plan *p, Py_ssize_t o, Py_ssize_t j0,
                      Py_ssize_t L) noexcept nogil:
    """NLL's forward over rows: sum of -w_t x[t] over counted rows, nothing else (the
    general loops spend a tile pass and some 60 instructions a row on what this case never
    needs).  A row is wide and only one entry of it is read, a cache and TLB miss the
    hardware cannot see coming, so the entry PREFETCH_ROWS rows ahead is requested early."""
    if p.t_width == 1:
        return _nll_rows_of(x, <const uint8_t *> p.t.data, p, o, j0, L)
    if p.t_width == 2:
        return _nll_rows_of(x, <const int16_t *> p.t.data, p, o, j0, L)
    if p.t_width == 4:
        return _nll_rows_of(x, <const int32_t *> p.t.data, p, o, j0, L)
    return _nll_rows_of(x, <const int64_t *> p.t.data, p, o, j0, L)


cdef double _tile(const floating *x, const Plan *p, Scratch *scp, Py_ssize_t o, Py_ssize_t j0,
                  Py_ssize_t L) noexcept nogil:
    cdef Scratch sc = scp[0]
    cdef Py_ssize_t C = p.C, i, c, xcs, qcs = 0, gcs
    cdef floating *m = <floating *> sc.m
    cdef floating *s = <floating *> sc.s
    cdef floating *a = <floating *> sc.a
    cdef floating *b = <floating *> sc.b
    cdef floating *e = <floating *> sc.e
    cdef floating *gbuf = <floating *> sc.gbuf
    cdef bint hard = p.t.data != NULL, want_grad = p.g.data != NULL
    cdef const floating *xb = x + at(&p.x, o, j0)
    cdef const floating *xt
    cdef const floating *qt = NULL
    cdef const floating *pf
    cdef floating *g = <floating *> p.g.data
    cdef floating *gout
    cdef floating *gb
    cdef floating *dst
    cdef floating *lo_b = NULL
    cdef const floating *go_b = NULL
    cdef double total = 0.0
    cdef double qa = 1.0 - p.eps, qb = p.eps / C

    if p.nll and hard and not want_grad and p.lo.data == NULL and p.go.data == NULL \
            and p.x.ps != 1:
        # NLL's forward reads one entry per position: gathering whole tiles (channels-last
        # with few classes) would cost more than the loss
        return _nll_rows(x, p, o, j0, L)
    _counted(p, o, j0, L, &sc)
    if p.x.ps == 1:
        xt = xb
        xcs = p.x.cs
    else:
        # the next tile of this run, prefetched while this one is gathered
        tile_gather(xb, p.x.cs, p.x.ps, C, L, <floating *> sc.xbuf,
                    xb + L * p.x.ps if j0 + L < p.inner else NULL,
                    min(p.tile, p.inner - j0 - L))
        xt = <floating *> sc.xbuf
        xcs = L

    if not p.nll:
        tile_max(xt, xcs, C, L, m)
        # the next tile of this run, when the logits are used in place (NCHW)
        pf = xb + L if p.x.ps == 1 and j0 + L < p.inner else NULL
        tile_sumexp(xt, xcs, C, L, m, s, e if want_grad else NULL, pf)
        tile_lse(m, s, L, sc.lse)
    if hard and p.eps > 0:
        tile_wdot(xt, xcs, C, L, p.weight, sc.acc1)
    if not hard:
        qt = <const floating *> p.q.data + at(&p.q, o, j0)
        qcs = p.q.cs
        if p.q.ps != 1:
            tile_gather(qt, p.q.cs, p.q.ps, C, L, <floating *> sc.qbuf)
            qt = <floating *> sc.qbuf
            qcs = L
        tile_qdot(xt, xcs, qt, qcs, C, L, p.weight, qa, qb, sc.acc1, sc.acc2)

    if p.lo.data != NULL:
        lo_b = <floating *> p.lo.data + at(&p.lo, o, j0)
    if p.go.data != NULL:
        go_b = <const floating *> p.go.data + at(&p.go, o, j0)
    # The common cases are vectorised over positions (softmax_loops.h: tile_focal,
    # tile_hard); reduction "none" and per-position grad_output take the general loop.
    if p.focal and lo_b == NULL and go_b == NULL:
        total = tile_focal(L, xt, xcs, sc.tt, sc.cnt, sc.lse, p.weight, p.gamma, p.scale, s,
                           sc.acc1, sc.acc2, sc.fix, a if want_grad else NULL, b, sc.fix)
    elif hard and not p.focal and lo_b == NULL and go_b == NULL:
        total = tile_hard(L, xt, xcs, sc.tt, sc.cnt, NULL if p.nll else sc.lse, p.weight, qa,
                          qb, p.weight_total, sc.acc1 if p.eps > 0 else NULL, p.scale, s,
                          sc.acc2, a if want_grad else NULL, b, sc.fix)
    else:
        if p.focal:
            # nll of every position (0 where not counted), then the focal factors for the
            # whole tile in one vectorised call
            for i in range(L):
                sc.acc1[i] = (sc.lse[i] - <double> xt[sc.tt[i] * xcs + i]) if sc.cnt[i] else 0.0
            focal_terms(L, sc.acc1, p.gamma, sc.acc2, sc.fix)
        total = _positions(xt, xcs, &sc, lo_b, go_b, p, L)

    if want_grad:
        gb = g + at(&p.g, o, j0)
        dst = NULL
        if p.g.ps == 1 and not p.stream:
            gout = gb
            gcs = p.g.cs
        elif p.g.ps == 1:
            # streamed: each finished row goes out from scratch (in place of the
            # exponentials, one tile buffer less in cache) while it is in L1
            gout = gbuf if p.nll else e
            gcs = L
            dst = gb
        else:
            gout = gbuf
            gcs = L
        tile_grad_positions(L, sc.cnt, sc.tt if hard else NULL, sc.fix,
                            <floating *> sc.keep, <floating *> sc.tf, <floating *> sc.fixt)
        tile_grad(NULL if p.nll else e, C, L, a, b, _grad_kind(p), p.weight, qt, qcs, qa, qb,
                  <floating *> sc.keep, <floating *> sc.tf if hard else NULL,
                  <floating *> sc.fixt, gout, gcs, dst, p.g.cs)
        if p.g.ps != 1:
            tile_scatter(gbuf, C, L, gb, p.g.cs, p.g.ps, p.stream)
    return total


cdef inline void _zero_row(floating *gr, Py_ssize_t C, Py_ssize_t cs) noexcept nogil:
    cdef Py_ssize_t c
    if cs == 1:
        memset(gr, 0, C * sizeof(floating))
    else:
        for c in range(C):
            gr[c * cs] = 0


cdef double _rows(const floating *x, const Plan *p, Scratch *scp, Py_ssize_t o, Py_ssize_t j0,
                  Py_ssize_t L) noexcept nogil:
    cdef Scratch sc = scp[0]
    cdef Py_ssize_t C = p.C, i, pos
    cdef floating *e = <floating *> sc.e
    cdef bint hard = p.t.data != NULL, want_grad = p.g.data != NULL, smooth = p.eps > 0
    cdef const floating *xr
    cdef const floating *qr = NULL
    cdef floating *gr = NULL
    cdef floating *lo = <floating *> p.lo.data
    cdef const floating *go = <const floating *> p.go.data
    cdef floating mx, sx = 1
    cdef int64_t t = 0
    cdef double lse, gi, wt, loss, coef, kx, k, nll, qg, cf, acoef
    cdef double fix = 0.0, bcoef = 0.0, total = 0.0
    cdef double qa = 1.0 - p.eps, qb = p.eps / C
    cdef onnxl_grad_kind kind = _grad_kind(p)

    if p.nll and hard and not want_grad and lo == NULL:
        return _nll_rows(x, p, o, j0, L)
    _counted(p, o, j0, L, &sc)
    if not p.nll:
        # every counted row's max and sum of exponentials first (its exponentials kept for
        # the gradient), then their logs as one vector loop: a scalar log per row cost a
        # quarter of a 100-class row
        for i in range(L):
            mx, sx = 0, 1            # lse 0 where not counted (unused)
            if sc.cnt[i]:
                xr = x + at(&p.x, o, j0 + i)
                mx = row_max(xr, C)
                sx = row_sumexp(xr, C, mx, e + i * C if want_grad else NULL)
            (<floating *> sc.m)[i] = mx
            (<floating *> sc.s)[i] = sx
        tile_lse(<floating *> sc.m, <floating *> sc.s, L, sc.lse)
    for i in range(L):
        pos = j0 + i
        xr = x + at(&p.x, o, pos)
        if want_grad:
            gr = <floating *> p.g.data + at(&p.g, o, pos)
        if not sc.cnt[i]:
            if lo != NULL:
                lo[at(&p.lo, o, pos)] = 0
            if want_grad:
                _zero_row(gr, C, p.g.cs)
            continue
        if p.nll:
            lse = 0.0
        else:
            sx = (<floating *> sc.s)[i]
            lse = sc.lse[i]
        gi = go[at(&p.go, o, pos)] if go != NULL else p.scale
        if hard:
            t = sc.tt[i]
            wt = p.weight[t] if p.weight != NULL else 1.0
            if p.focal:
                nll = lse - <double> xr[t]
                focal_terms(1, &nll, p.gamma, &qg, &cf)
                loss = onnxl_focal_index(wt, qg, nll)
                fix = onnxl_focal_index_fix(gi, wt, cf)
                acoef = fix / sx
                bcoef = 0.0
            else:
                loss = onnxl_ce_index(lse, <double> xr[t], wt, smooth, qa, qb, p.weight_total,
                                      row_wdot(xr, C, p.weight) if smooth else 0.0, &coef)
                fix = onnxl_ce_index_fix(gi, qa, wt)
                acoef = gi * coef / sx
                bcoef = gi * qb
        else:
            qr = <const floating *> p.q.data + at(&p.q, o, pos)
            row_qdot(xr, qr, p.q.cs, C, p.weight, qa, qb, &kx, &k)
            loss = onnxl_ce_probabilities(lse, kx, k)
            acoef = gi * k / sx
            bcoef = gi
        if lo != NULL:
            lo[at(&p.lo, o, pos)] = <floating> loss
        total += loss
        if want_grad:
            if p.nll:
                _zero_row(gr, C, p.g.cs)
            else:
                row_grad(e + i * C, C, <floating> acoef, <floating> bcoef, kind, p.weight, qr,
                         p.q.cs, qa, qb, gr, p.g.cs)
            if hard:
                gr[t * p.g.cs] -= <floating> fix
    return total


cdef void _run(const floating *x, const Plan *p, char *scratch, double *partial,
               int nthreads) noexcept nogil:
    cdef Py_ssize_t k
    cdef Scratch sc
    if nthreads <= 1:       # no parallel region: a small call's whole kernel is cheaper
        sc = _thread_scratch(p, scratch, sizeof(floating))
        for k in range(p.n_tiles):
            partial[k] = _one_tile(x, p, &sc, k)
        return
    with parallel(num_threads=nthreads):
        sc = _thread_scratch(p, scratch + threadid() * p.scratch_stride, sizeof(floating))
        for k in prange(p.n_tiles, schedule="static"):
            partial[k] = _one_tile(x, p, &sc, k)


cdef inline double _one_tile(const floating *x, const Plan *p, Scratch *sc,
                             Py_ssize_t k) noexcept nogil:
    """The loss sum of tile k (the same tile whichever thread runs it)."""
    cdef Py_ssize_t o = k // p.tiles_per_outer
    cdef Py_ssize_t j0 = (k - o * p.tiles_per_outer) * p.tile
    cdef Py_ssize_t L = min(p.tile, p.inner - j0)
    if p.rows:
        return _rows(x, p, sc, o, j0, L)
    return _tile(x, p, sc, o, j0, L)


cdef inline Py_ssize_t _class_stride(arr):
    return arr.strides[1] // arr.itemsize if arr is not None else 0


cpdef enum:
    # how Launch.run scales the gradient (see there)
    DENOM_NONE = 0
    DENOM_WEIGHT = 1
    DENOM_COUNT = 2


cdef inline void _scan_tile(const Plan *p, Py_ssize_t k, Py_ssize_t per_outer, int64_t *cn,
                            int64_t *bd, int64_t *fb, double *ws) noexcept nogil:
    """The target scan of scan tile k (SCAN_TILE positions of the kernel's walk, never
    across outer indices) into its slots (targets.h)."""
    cdef Py_ssize_t o = k // per_outer
    cdef Py_ssize_t j0 = (k - o * per_outer) * SCAN_TILE
    cdef const uint8_t *mb = NULL
    if p.m.data != NULL:
        mb = <const uint8_t *> p.m.data + at(&p.m, o, j0)
    onnxl_targets_scan(p.t.data, p.t_width, at(&p.t, o, j0), p.t.ps, mb, p.m.ps,
                       min(<Py_ssize_t> SCAN_TILE, p.inner - j0), p.use_ii, p.ignore_index,
                       p.C, p.weight, &cn[k], &bd[k], &fb[k], &ws[k])


cdef void _scan(const Plan *p, Py_ssize_t per_outer, Py_ssize_t n, int64_t *cn, int64_t *bd,
                int64_t *fb, double *ws, int nthreads) noexcept nogil:
    cdef Py_ssize_t k
    # a target costs a fraction of a nanosecond: below SCAN_PARALLEL_MIN targets a parallel
    # region's start costs more than the scan
    if nthreads <= 1 or n // per_outer * p.inner < SCAN_PARALLEL_MIN:
        for k in range(n):
            _scan_tile(p, k, per_outer, cn, bd, fb, ws)
        return
    with parallel(num_threads=nthreads):
        for k in prange(n, schedule="static"):
            _scan_tile(p, k, per_outer, cn, bd, fb, ws)


cdef class Launch:
    """The fused kernel prepared for arrays of fixed headers: the walk, strides, tiles and
    scratch size decided once (`Launch(walk, x, target, prob, mask, grad, grad_output,
    loss_out, tile, rows, nll, focal, stream)`); each `run` sets the arrays' data, the
    configuration's scalars and the threads.  A driver keeps one per remembered plan (a
    small batch's call cost more in argument handling than in its kernel).  Every call's
    arrays must have the headers (dtypes, shapes, strides; present or absent) of the arrays
    it was made from.

    The operands come in `walk`'s order (it describes their positions): logits `x`, integer
    `target` or probability targets `prob` (the other one None), `mask`, `grad`,
    `grad_output` (per position: reduction "none"), `loss_out`; None for an absent one.
    Arrays with a class axis have it at axis 1.  `x`, `prob`, `grad`, `grad_output` and
    `loss_out` share one float dtype; `target` is uint8/int16/int32/int64; `mask` is
    uint8.  `rows`: the row loops (classes contiguous).  `nll`: x holds log-probabilities.
    `focal`: the softmax focal loss (each run's weight holds alpha; index targets, no
    smoothing).  `stream`: build gradient tiles in scratch and stream them out
    (stream_store.h; tiled layouts with contiguous positions only, ignored elsewhere).
    """
    cdef Plan p
    cdef object walk            # owns the offsets the operands point into
    cdef bint single

    def __init__(self, walk, x, target, prob, mask, grad, grad_output, loss_out,
                 Py_ssize_t tile, bint rows, bint nll, bint focal, bint stream):
        cdef Plan *p = &self.p
        cdef Py_ssize_t n_outer = len(walk.offsets[0]), C = x.shape[1]
        self.walk = walk
        self.single = x.itemsize == 4
        tile = fitted_tile(tile, walk.inner)
        p.C = C
        p.inner = walk.inner
        p.tile = tile
        p.tiles_per_outer = (walk.inner + tile - 1) // tile
        p.n_tiles = n_outer * p.tiles_per_outer
        p.x = operand(x, walk.offsets[0], walk.strides[0], _class_stride(x))
        p.t = operand(target, walk.offsets[1], walk.strides[1])
        p.t_width = target.itemsize if target is not None else 8
        p.q = operand(prob, walk.offsets[2], walk.strides[2], _class_stride(prob))
        p.m = operand(mask, walk.offsets[3], walk.strides[3])
        p.g = operand(grad, walk.offsets[4], walk.strides[4], _class_stride(grad))
        p.go = operand(grad_output, walk.offsets[5], walk.strides[5])
        p.lo = operand(loss_out, walk.offsets[6], walk.strides[6])
        p.nll = nll
        p.rows = rows
        p.focal = focal
        p.stream = stream and grad is not None and not rows
        p.buf_e = grad is not None and not nll
        p.buf_x = not rows and p.x.ps != 1
        p.buf_q = not rows and prob is not None and p.q.ps != 1
        p.buf_g = not rows and grad is not None and (p.g.ps != 1 or (p.stream and nll))
        cdef Scratch sc
        p.scratch_stride = _scratch_layout(NULL, C, tile, x.itemsize, p.buf_e, p.buf_x,
                                           p.buf_q, p.buf_g, &sc)

    def run(self, x, target, prob, mask, grad, grad_output, loss_out, ignore_index,
            cnp.ndarray weight, double eps, double gamma, int nthreads, double g0,
            int denom, double factor):
        """Scan the class-index targets (if any), then run the kernel; returns
        (sum of the counted per-position losses, counted positions, their weight total,
        number of bad targets, the first bad one or None).  With bad targets the kernel does
        not run (the sum is 0.0).

        The gradient's scale: g0 with denom DENOM_NONE; g0 / (the scanned weight total)
        with DENOM_WEIGHT (a weighted mean); g0 / (counted positions x factor) with
        DENOM_COUNT (focal's mean).  The scan's tiles (SCAN_TILE positions of the kernel's
        walk) are added in tile order, so the counts and totals do not depend on the
        threads."""
        cdef Plan p = self.p
        cdef Py_ssize_t k, n = p.n_tiles
        cdef Py_ssize_t scan_per_outer = (p.inner + SCAN_TILE - 1) // SCAN_TILE
        cdef Py_ssize_t ns = p.n_tiles // p.tiles_per_outer * scan_per_outer
        cdef double total = 0.0, weight_total = 0.0
        cdef int64_t count = 0, n_bad = 0, first_bad = 0
        p.x.data = <char *> data_ptr(x)
        p.t.data = <char *> data_ptr(target)
        p.q.data = <char *> data_ptr(prob)
        p.m.data = <char *> data_ptr(mask)
        p.g.data = <char *> data_ptr(grad)
        p.go.data = <char *> data_ptr(grad_output)
        p.lo.data = <char *> data_ptr(loss_out)
        p.use_ii = ignore_index is not None
        p.ignore_index = ignore_index if p.use_ii else 0
        p.weight = <const double *> data_ptr(weight)
        p.weight_total = float(weight.sum()) if weight is not None else <double> p.C
        p.eps = eps
        p.gamma = gamma
        # raw memory (a small call's NumPy arrays cost more than its kernel), which
        # tracemalloc still sees: the threads' scratch, then a loss partial per tile and
        # the scan's four slots per scan tile; a few tiles' on the stack
        cdef double part_small[5 * SMALL_TILES]
        cdef double *part = part_small
        cdef bint small = n <= SMALL_TILES and ns <= SMALL_TILES
        cdef char *block = <char *> PyMem_RawMalloc(max(nthreads, 1) * p.scratch_stride + 64 +
                                                    (0 if small else
                                                     (n + 4 * ns) * sizeof(double)))
        if block == NULL:
            raise MemoryError("no memory for the kernel's scratch")
        cdef char *scr = block + (64 - (<size_t> block) % 64) % 64
        if not small:
            part = <double *> (scr + max(nthreads, 1) * p.scratch_stride)
        cdef double *ws = part + (n if not small else SMALL_TILES)
        cdef int64_t *cn = <int64_t *> (ws + ns)
        cdef int64_t *bd = cn + ns
        cdef int64_t *fb = bd + ns
        with nogil:
            if p.t.data != NULL:
                # Pass 1, targets only: the only place class indices are range-checked;
                # the counts give the mean's denominator before any logit is read
                _scan(&p, scan_per_outer, ns, cn, bd, fb, ws, nthreads)
                for k in range(ns):         # tile order: the total and the first bad one
                    weight_total += ws[k]
                    count += cn[k]
                    if bd[k] and n_bad == 0:
                        first_bad = fb[k]
                    n_bad += bd[k]
            if denom == DENOM_WEIGHT:
                p.scale = g0 / weight_total
            elif denom == DENOM_COUNT:
                p.scale = g0 / (<double> count * factor)
            else:
                p.scale = g0
            if n_bad == 0:
                # Pass 2, the fused kernel; the one dispatch: on the float type (targets
                # are read in any width by targets.h)
                if self.single:
                    _run(<const float *> p.x.data, &p, scr, part, nthreads)
                else:
                    _run(<const double *> p.x.data, &p, scr, part, nthreads)
                # Fixed order: tile 0, 1, 2, ... whatever thread computed each.
                for k in range(n):
                    total += part[k]
            PyMem_RawFree(block)
        return total, count, weight_total, n_bad, first_bad if n_bad else None
