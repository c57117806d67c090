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

The caller guarantees: every counted target lies in [0, C) (checked by _index_targets), all
offsets and strides address inside their arrays, `scale` is the gradient of the reduction.
"""
import numpy as np
cimport numpy as cnp
from cython cimport floating
from cython.parallel cimport prange, parallel, threadid
from libc.math cimport log, exp, pow
from libc.string cimport memset
from libc.stdint cimport int64_t, uint8_t, int16_t, int32_t

from softmax_loops cimport (
    tile_max, tile_sumexp, tile_lse, tile_wdot, tile_qdot, tile_grad, tile_gather, tile_scatter,
    row_max, row_sumexp, row_wdot, row_qdot, row_grad, focal_terms, tile_hard, tile_focal,
    onnxl_prefetch, onnxl_expm1_nonpos,
)

from targets cimport targets_tile
from kernel_common cimport (
    index_t, align64, offsets_ptr, data_ptr, onnxl_stream_copy, onnxl_stream_fence,
)

cnp.import_array()

cdef struct Plan:
    Py_ssize_t C, inner, tile, tiles_per_outer, n_tiles, scratch_stride
    const int64_t *x_off     # logits
    Py_ssize_t x_ps, x_cs
    const int64_t *t_off     # integer targets
    Py_ssize_t t_ps
    const int64_t *q_off     # probability targets
    Py_ssize_t q_ps, q_cs
    const int64_t *m_off     # mask
    Py_ssize_t m_ps
    const int64_t *g_off     # gradient
    Py_ssize_t g_ps, g_cs
    const int64_t *go_off    # grad_output per position (reduction "none")
    Py_ssize_t go_ps
    const int64_t *lo_off    # per-position losses (reduction "none")
    Py_ssize_t lo_ps
    int64_t ignore_index
    const double *weight     # NULL: all ones
    double weight_total      # sum of weight over classes
    double eps               # label smoothing
    double scale             # d(reduction)/d(per-position loss) when go is NULL
    bint nll                 # logits are log-probabilities already: no softmax
    bint rows                # classes contiguous: row loops
    bint focal               # softmax focal loss: weight holds alpha, see _focal
    double gamma
    bint stream              # gradient tiles built in scratch, streamed out (stream_store.h)


def scratch_bytes(Py_ssize_t C, Py_ssize_t tile, Py_ssize_t itemsize):
    """Bytes of per-thread scratch the kernel carves in _tile / _rows."""
    cdef Py_ssize_t block = align64(C * tile * itemsize)
    return 4 * align64(tile * itemsize) + 5 * align64(tile * 8) + align64(tile) + 4 * block


cdef inline double _focal(double nll, double gamma, double *coef) noexcept nogil:
    """Softmax focal term of one position from nll = -log p_t: returns (1 - p_t)^gamma * nll
    and sets coef = -dl/dlog p_t, so that the gradient has CE's form coef * (p - onehot).

    With q = 1 - p_t = -expm1(log p_t) (accurate as p_t -> 1; the same expm1 as the
    vectorised focal_terms, so both paths give the same bits):
        dl/dlog p_t = gamma p_t q^(gamma - 1) log p_t - q^gamma,
    whose first term tends to 0 as q -> 0 for every gamma >= 0 (q^(gamma-1) log p_t ~
    -q^gamma): taken as 0 at q == 0 so saturated logits never give inf * 0.
    """
    cdef double lpt = -nll
    cdef double q = -onnxl_expm1_nonpos(lpt)
    cdef double qg, term = 0.0
    if q < 0:
        q = 0.0
    qg = pow(q, gamma)
    if q > 0 and gamma != 0:
        term = gamma * exp(lpt) * pow(q, gamma - 1.0) * lpt
    coef[0] = qg - term
    return qg * nll


cdef inline double _positions(const floating *xt, Py_ssize_t xcs, const int64_t *tt,
                              const uint8_t *cnt, const double *lse, const double *acc1,
                              const double *acc2, double *fix, const floating *s,
                              floating *a, floating *b, floating *lo_b, const floating *go_b,
                              const Plan *p, Py_ssize_t L, bint hard,
                              bint want_grad) noexcept nogil:
    """The general per-position loop (focal, probability targets, reduction "none",
    per-position grad_output): loss terms and gradient coefficients a, b, fix."""
    cdef const double *w = p.weight
    cdef double W = p.weight_total, scale = p.scale, eps = p.eps
    cdef double qa = 1.0 - p.eps, qb = p.eps / p.C
    cdef bint nll = p.nll, focal = p.focal
    cdef Py_ssize_t lo_ps = p.lo_ps, go_ps = p.go_ps, i
    cdef int64_t t
    cdef double li, wt = 1.0, loss, coef, gi, total = 0.0
    for i in range(L):
        if not cnt[i]:
            if lo_b != NULL:
                lo_b[i * lo_ps] = 0
            a[i] = 0
            b[i] = 0
            continue
        li = 0.0 if nll else lse[i]
        if hard:
            t = tt[i]
            wt = w[t] if w != NULL else 1.0
            loss = wt * (li - <double> xt[t * xcs + i])
            coef = wt
            if focal:
                loss = wt * acc2[i] * acc1[i]
                coef = wt * fix[i]
            elif eps > 0:
                loss = qa * loss + qb * (W * li - acc1[i])
                coef = qa * wt + qb * W
        else:
            loss = acc2[i] * li - acc1[i]
            coef = acc2[i]
        if lo_b != NULL:
            lo_b[i * lo_ps] = <floating> loss
        total += loss
        if want_grad:
            gi = go_b[i * go_ps] if go_b != NULL else scale
            a[i] = <floating> (0.0 if nll else gi * coef / s[i])
            if hard:
                fix[i] = gi * (coef if focal else qa * wt)
                b[i] = <floating> (gi * qb)
            else:
                b[i] = <floating> gi

    return total


cdef double _tile(const floating *x, const index_t *tgt, const floating *prob,
                  const uint8_t *mk, const floating *go, floating *lo, floating *g,
                  const Plan *p, char *scr, Py_ssize_t o, Py_ssize_t j0,
                  Py_ssize_t L) noexcept nogil:
    cdef Py_ssize_t C = p.C, i, c, xcs, qcs = 0, gcs
    cdef Py_ssize_t isz = sizeof(floating), blk = align64(C * p.tile * sizeof(floating))
    # Scratch, carved in the order scratch_bytes counts it.
    cdef floating *m = <floating *> scr
    cdef floating *s = <floating *> (scr + align64(p.tile * isz))
    cdef floating *a = <floating *> (scr + 2 * align64(p.tile * isz))
    cdef floating *b = <floating *> (scr + 3 * align64(p.tile * isz))
    cdef char *rest = scr + 4 * align64(p.tile * isz)
    cdef double *acc1 = <double *> rest
    cdef double *acc2 = <double *> (rest + align64(p.tile * 8))
    cdef double *fix = <double *> (rest + 2 * align64(p.tile * 8))
    cdef double *lse = <double *> (rest + 3 * align64(p.tile * 8))
    cdef int64_t *tt = <int64_t *> (rest + 4 * align64(p.tile * 8))
    cdef uint8_t *cnt = <uint8_t *> (rest + 5 * align64(p.tile * 8))
    rest = rest + 5 * align64(p.tile * 8) + align64(p.tile)
    cdef floating *e = <floating *> rest
    cdef floating *xbuf = <floating *> (rest + blk)
    cdef floating *qbuf = <floating *> (rest + 2 * blk)
    cdef floating *gbuf = <floating *> (rest + 3 * blk)

    cdef bint hard = prob == NULL, want_grad = g != NULL
    cdef const floating *xb = x + p.x_off[o] + j0 * p.x_ps
    cdef const floating *xt
    cdef const floating *qt = NULL
    cdef const floating *pf
    cdef floating *gout
    cdef floating *gb
    cdef double total = 0.0
    cdef double eps = p.eps, qa = 1.0 - p.eps, qb = p.eps / C
    cdef int kind = 0 if hard and eps == 0 else (1 if hard else 2)

    if p.nll and hard and not want_grad and lo == NULL and go == NULL and p.x_ps != 1:
        # NLL's forward reads one entry per position: gathering whole tiles (channels-last
        # with few classes) would cost more than the loss
        return _nll_rows(x, tgt, mk, p, o, j0, L)
    if p.x_ps == 1:
        xt = xb
        xcs = p.x_cs
    else:
        tile_gather(xb, p.x_cs, p.x_ps, C, L, xbuf)
        xt = xbuf
        xcs = L

    # Targets of the tile: tt = class index where counted, 0 elsewhere (so that gathers
    # by tt never leave the tile), cnt = counted.
    cdef const uint8_t *mb = mk + p.m_off[o] + j0 * p.m_ps if mk != NULL else NULL
    if hard:
        targets_tile(tgt + p.t_off[o] + j0 * p.t_ps, p.t_ps, mb, p.m_ps, L, p.ignore_index,
                     tt, cnt)
    else:
        for i in range(L):
            cnt[i] = 1 if mb == NULL or mb[i * p.m_ps] != 0 else 0

    if not p.nll:
        tile_max(xt, xcs, C, L, m)
        # the next tile of this run, when the logits are used in place (NCHW)
        pf = xb + L if p.x_ps == 1 and j0 + L < p.inner else NULL
        tile_sumexp(xt, xcs, C, L, m, s, e if want_grad else NULL, pf)
        tile_lse(m, s, L, lse)
    if hard and eps > 0:
        tile_wdot(xt, xcs, C, L, p.weight, acc1)
    if not hard:
        if p.q_ps == 1:
            qt = prob + p.q_off[o] + j0 * p.q_ps
            qcs = p.q_cs
        else:
            tile_gather(prob + p.q_off[o] + j0 * p.q_ps, p.q_cs, p.q_ps, C, L, qbuf)
            qt = qbuf
            qcs = L
        tile_qdot(xt, xcs, qt, qcs, C, L, p.weight, qa, qb, acc1, acc2)

    # Per position: the loss, and the gradient coefficients a (times e), b (times k_c) and
    # fix (at the target class).  Struct fields go to locals so the compiler can keep them
    # in registers across the stores.
    cdef const double *w = p.weight
    cdef double W = p.weight_total, scale = p.scale, gamma = p.gamma
    cdef bint nll = p.nll, focal = p.focal
    cdef floating *lo_b = lo + p.lo_off[o] + j0 * p.lo_ps if lo != NULL else NULL
    cdef const floating *go_b = go + p.go_off[o] + j0 * p.go_ps if go != NULL else NULL
    # The common cases are vectorised over positions (softmax_loops.h: tile_focal,
    # tile_hard); reduction "none" and per-position grad_output take the general loop.
    if focal and lo_b == NULL and go_b == NULL:
        total = tile_focal(L, xt, xcs, tt, cnt, lse, w, gamma, scale, s, acc1, acc2, fix,
                           a if want_grad else NULL, b, fix)
    elif hard and not focal and lo_b == NULL and go_b == NULL:
        total = tile_hard(L, xt, xcs, tt, cnt, NULL if nll else lse, w, qa, qb, W,
                          acc1 if eps > 0 else NULL, scale, s, acc2,
                          a if want_grad else NULL, b, fix)
    else:
        if focal:
            # nll of every position (0 where not counted, whose target may be out of
            # range), then the focal factors for the whole tile in one vectorised call
            for i in range(L):
                acc1[i] = (lse[i] - <double> xt[tt[i] * xcs + i]) if cnt[i] else 0.0
            focal_terms(L, acc1, gamma, acc2, fix)
        total = _positions(xt, xcs, tt, cnt, lse, acc1, acc2, fix, s, a, b, lo_b, go_b,
                           p, L, hard, want_grad)

    if want_grad:
        gb = g + p.g_off[o] + j0 * p.g_ps
        if p.g_ps == 1 and not p.stream:
            gout = gb
            gcs = p.g_cs
        elif p.g_ps == 1 and not p.nll:
            # streamed: the gradient replaces the exponentials in place (one tile buffer
            # less in cache), then goes out from there
            gout = e
            gcs = L
        else:
            gout = gbuf
            gcs = L
        if p.nll:
            # NLL's gradient is 0 but at the target: plain zero rows (a memset each)
            for c in range(C):
                memset(gout + c * gcs, 0, L * sizeof(floating))
        else:
            tile_grad(e, C, L, a, b, kind, p.weight, qt, qcs, qa, qb, gout, gcs)
        for i in range(L):
            if not cnt[i]:
                for c in range(C):
                    gout[c * gcs + i] = 0
            elif hard:
                gout[tt[i] * gcs + i] -= <floating> fix[i]
        if p.g_ps != 1:
            tile_scatter(gbuf, C, L, gb, p.g_cs, p.g_ps)
        elif p.stream:
            for c in range(C):
                onnxl_stream_copy(gb + c * p.g_cs, gout + c * L, L * isz)
            onnxl_stream_fence()
    return total


cdef inline void _zero_row(floating *gr, Py_ssize_t C, Py_ssize_t cs) noexcept nogil:
    cdef Py_ssize_t c
    if cs == 1:
        memset(gr, 0, C * sizeof(floating))
    else:
        for c in range(C):
            gr[c * cs] = 0


cdef enum:
    PREFETCH_ROWS = 24


cdef inline void _prefetch_entry(const floating *x, const index_t *tgt, const Plan *p,
                                 Py_ssize_t o, Py_ssize_t pos) noexcept nogil:
    """Prefetch x[pos, t[pos]] (row form); an ignored or bad target prefetches column 0."""
    cdef int64_t t = <int64_t> tgt[p.t_off[o] + pos * p.t_ps]
    if t < 0 or t >= p.C:
        t = 0
    onnxl_prefetch(x + p.x_off[o] + pos * p.x_ps + t * p.x_cs)


cdef double _nll_rows(const floating *x, const index_t *tgt, const uint8_t *mk,
                      const Plan *p, Py_ssize_t o, Py_ssize_t j0, Py_ssize_t L) noexcept nogil:
    """NLL's forward over rows: sum of -w_t x[t] over counted rows, nothing else (the
    general loop spends some 60 instructions a row on branches this case never takes)."""
    cdef Py_ssize_t i, pos
    cdef int64_t t
    cdef double total = 0.0, wt
    for i in range(L):
        pos = j0 + i
        if i + PREFETCH_ROWS < L:
            _prefetch_entry(x, tgt, p, o, pos + PREFETCH_ROWS)
        if mk != NULL and mk[p.m_off[o] + pos * p.m_ps] == 0:
            continue
        t = <int64_t> tgt[p.t_off[o] + pos * p.t_ps]
        if t == p.ignore_index:
            continue
        wt = p.weight[t] if p.weight != NULL else 1.0
        total += wt * (0.0 - <double> x[p.x_off[o] + pos * p.x_ps + t * p.x_cs])
    return total


cdef double _rows(const floating *x, const index_t *tgt, const floating *prob,
                  const uint8_t *mk, const floating *go, floating *lo, floating *g,
                  const Plan *p, char *scr, Py_ssize_t o, Py_ssize_t j0,
                  Py_ssize_t L) noexcept nogil:
    cdef Py_ssize_t C = p.C, i, c, pos
    cdef floating *e = <floating *> scr
    cdef bint hard = prob == NULL, want_grad = g != NULL
    cdef const floating *xr
    cdef const floating *qr = NULL
    cdef floating *gr = NULL
    cdef floating mx, sx = 1
    cdef int64_t t = 0
    cdef bint ok
    cdef double lse, gi, wt, loss, coef, kx, k, fix = 0.0, bcoef = 0.0, total = 0.0
    cdef double eps = p.eps, qa = 1.0 - p.eps, qb = p.eps / C
    cdef int kind = 0 if hard and eps == 0 else (1 if hard else 2)
    # NLL reads one entry of each (wide) row: a cache and TLB miss per row that the
    # hardware cannot see coming, so the entry PREFETCH_ROWS rows ahead is requested early.
    cdef bint ahead = p.nll and hard
    if ahead:
        for i in range(min(PREFETCH_ROWS, L)):
            _prefetch_entry(x, tgt, p, o, j0 + i)
        if not want_grad and lo == NULL:
            return _nll_rows(x, tgt, mk, p, o, j0, L)

    for i in range(L):
        pos = j0 + i
        if ahead and i + PREFETCH_ROWS < L:
            _prefetch_entry(x, tgt, p, o, pos + PREFETCH_ROWS)
        xr = x + p.x_off[o] + pos * p.x_ps
        if want_grad:
            gr = g + p.g_off[o] + pos * p.g_ps
        ok = mk == NULL or mk[p.m_off[o] + pos * p.m_ps] != 0
        if hard:
            t = <int64_t> tgt[p.t_off[o] + pos * p.t_ps]
            ok = ok and t != p.ignore_index
        if not ok:
            if lo != NULL:
                lo[p.lo_off[o] + pos * p.lo_ps] = 0
            if want_grad:
                _zero_row(gr, C, p.g_cs)
            continue
        if p.nll:
            lse = 0.0
        else:
            mx = row_max(xr, C)
            sx = row_sumexp(xr, C, mx, e)  # always via e: one summation order
            lse = mx + log(<double> sx)
        gi = go[p.go_off[o] + pos * p.go_ps] if go != NULL else p.scale
        if hard:
            wt = p.weight[t] if p.weight != NULL else 1.0
            loss = wt * (lse - <double> xr[t])
            coef = wt
            fix = gi * wt
            if p.focal:
                loss = wt * _focal(lse - <double> xr[t], p.gamma, &coef)
                coef = wt * coef
                fix = gi * coef
            elif eps > 0:
                loss = qa * loss + qb * (p.weight_total * lse - row_wdot(xr, C, p.weight))
                coef = qa * wt + qb * p.weight_total
                fix = gi * qa * wt
                bcoef = gi * qb
        else:
            qr = prob + p.q_off[o] + pos * p.q_ps
            row_qdot(xr, qr, p.q_cs, C, p.weight, qa, qb, &kx, &k)
            loss = k * lse - kx
            coef = k
            bcoef = gi
        if lo != NULL:
            lo[p.lo_off[o] + pos * p.lo_ps] = <floating> loss
        total += loss
        if want_grad:
            if p.nll:
                _zero_row(gr, C, p.g_cs)
            else:
                row_grad(e, C, <floating> (gi * coef / sx), <floating> bcoef, kind, p.weight,
                         qr, p.q_cs, qa, qb, gr, p.g_cs)
            if hard:
                gr[t * p.g_cs] -= <floating> fix
    return total


cdef void _run(const floating *x, const index_t *tgt, const floating *prob, const uint8_t *mk,
               const floating *go, floating *lo, floating *g, const Plan *p, char *scratch,
               double *partial, int nthreads) noexcept nogil:
    cdef Py_ssize_t k, o, j0, L
    with parallel(num_threads=nthreads):
        for k in prange(p.n_tiles, schedule="static"):
            o = k // p.tiles_per_outer
            j0 = (k - o * p.tiles_per_outer) * p.tile
            L = min(p.tile, p.inner - j0)
            if p.rows:
                partial[k] = _rows(x, tgt, prob, mk, go, lo, g, p,
                                   scratch + threadid() * p.scratch_stride, o, j0, L)
            else:
                partial[k] = _tile(x, tgt, prob, mk, go, lo, g, p,
                                   scratch + threadid() * p.scratch_stride, o, j0, L)


def run(x, x_off, Py_ssize_t x_ps, Py_ssize_t x_cs,
        target, t_off, Py_ssize_t t_ps,
        prob, q_off, Py_ssize_t q_ps, Py_ssize_t q_cs,
        mask, m_off, Py_ssize_t m_ps,
        grad, g_off, Py_ssize_t g_ps, Py_ssize_t g_cs,
        grad_output, go_off, Py_ssize_t go_ps,
        loss_out, lo_off, Py_ssize_t lo_ps,
        Py_ssize_t inner, Py_ssize_t tile, bint rows,
        int64_t ignore_index, weight, double eps, double scale, bint nll, int nthreads,
        focal_gamma=None, bint stream=False):
    """Run the fused kernel; returns the sum of the counted per-position losses (float64).

    Arrays are passed whole with element offsets (int64, one per outer index) and element
    strides; `None` for an absent one.  `x`, `prob`, `grad`, `grad_output` and `loss_out`
    share one float dtype; `target` is uint8/int16/int32/int64 (or None with `prob`);
    `mask` is uint8.  `weight` is float64 of length C or None.  With `focal_gamma` the
    loss is the softmax focal loss, `weight` holding alpha (index targets, no smoothing).
    `stream`: build gradient tiles in scratch and stream them out (stream_store.h; tiled
    layouts with contiguous positions only, ignored elsewhere).
    """
    cdef Plan p
    cdef Py_ssize_t n_outer = len(x_off), C = x.shape[1] if x.ndim > 1 else x.shape[0]
    cdef cnp.ndarray partial, scratch
    cdef double total = 0.0
    cdef Py_ssize_t k
    p.C = C
    p.inner = inner
    p.tile = tile
    p.tiles_per_outer = (inner + tile - 1) // tile
    p.n_tiles = n_outer * p.tiles_per_outer
    p.x_off, p.x_ps, p.x_cs = offsets_ptr(x_off), x_ps, x_cs
    p.t_off, p.t_ps = offsets_ptr(t_off), t_ps
    p.q_off, p.q_ps, p.q_cs = offsets_ptr(q_off), q_ps, q_cs
    p.m_off, p.m_ps = offsets_ptr(m_off), m_ps
    p.g_off, p.g_ps, p.g_cs = offsets_ptr(g_off), g_ps, g_cs
    p.go_off, p.go_ps = offsets_ptr(go_off), go_ps
    p.lo_off, p.lo_ps = offsets_ptr(lo_off), lo_ps
    p.ignore_index = ignore_index
    p.weight = <const double *> data_ptr(weight)
    p.weight_total = float(weight.sum()) if weight is not None else <double> C
    p.eps = eps
    p.scale = scale
    p.nll = nll
    p.rows = rows
    p.focal = focal_gamma is not None
    p.gamma = focal_gamma if focal_gamma is not None else 0.0
    p.stream = stream and grad is not None and not rows
    p.scratch_stride = align64(C * x.itemsize) if rows else scratch_bytes(C, tile, x.itemsize)
    partial = np.zeros(p.n_tiles, dtype=np.float64)
    scratch = np.empty(max(nthreads, 1) * p.scratch_stride + 64, dtype=np.uint8)
    cdef char *scr = <char *> cnp.PyArray_DATA(scratch)
    scr = scr + ((64 - (<size_t> scr) % 64) % 64)
    cdef double *part = <double *> cnp.PyArray_DATA(partial)
    cdef void *xp = data_ptr(x)
    cdef void *tp = data_ptr(target)
    cdef void *qp = data_ptr(prob)
    cdef const uint8_t *mp = <const uint8_t *> data_ptr(mask)
    cdef void *gp = data_ptr(grad)
    cdef void *gop = data_ptr(grad_output)
    cdef void *lop = data_ptr(loss_out)
    # Integer targets were validated to uint8/int16/int32/int64: the width names the type.
    cdef int twidth = target.itemsize if target is not None else 8
    cdef bint single = x.dtype == np.float32

    with nogil:
        if single:
            if twidth == 1:
                _run(<const float *> xp, <const uint8_t *> tp, <const float *> qp, mp,
                     <const float *> gop, <float *> lop, <float *> gp, &p, scr, part, nthreads)
            elif twidth == 2:
                _run(<const float *> xp, <const int16_t *> tp, <const float *> qp, mp,
                     <const float *> gop, <float *> lop, <float *> gp, &p, scr, part, nthreads)
            elif twidth == 4:
                _run(<const float *> xp, <const int32_t *> tp, <const float *> qp, mp,
                     <const float *> gop, <float *> lop, <float *> gp, &p, scr, part, nthreads)
            else:
                _run(<const float *> xp, <const int64_t *> tp, <const float *> qp, mp,
                     <const float *> gop, <float *> lop, <float *> gp, &p, scr, part, nthreads)
        else:
            if twidth == 1:
                _run(<const double *> xp, <const uint8_t *> tp, <const double *> qp, mp,
                     <const double *> gop, <double *> lop, <double *> gp, &p, scr, part,
                     nthreads)
            elif twidth == 2:
                _run(<const double *> xp, <const int16_t *> tp, <const double *> qp, mp,
                     <const double *> gop, <double *> lop, <double *> gp, &p, scr, part,
                     nthreads)
            elif twidth == 4:
                _run(<const double *> xp, <const int32_t *> tp, <const double *> qp, mp,
                     <const double *> gop, <double *> lop, <double *> gp, &p, scr, part,
                     nthreads)
            else:
                _run(<const double *> xp, <const int64_t *> tp, <const double *> qp, mp,
                     <const double *> gop, <double *> lop, <double *> gp, &p, scr, part,
                     nthreads)
        # Fixed order: tile 0, 1, 2, ... whatever thread computed each.
        for k in range(p.n_tiles):
            total += part[k]
    return total
