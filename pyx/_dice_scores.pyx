# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The Dice family's per-class scores and their derivatives, from the statistics (I, P, T)
per (sample or pooled batch, class): what dice.py's _DiceFamily._reduce computes with some
fifty float64 NumPy calls (tens of microseconds on a small batch), in one loop.

Bit for bit NumPy's results: every operation is the one NumPy applies to the same float64
values in the same order, an IEEE double operation rounded once (the build has
-ffp-contract=off, so none is fused): + - * /, NumPy's maximum (the second operand on a
tie), where-selects, and NumPy's summation for the sums over classes (`np_sum`: the
reduction starts from 0.0 and adds the pairwise sum of numpy/_core/src/umath/loops_utils.h:
one accumulator below 8 terms, eight up to 128, halves cut at a multiple of 8 above;
tests/test_dice_scores.py checks it against np.sum).  A NaN denominator, whose maximum and
comparisons NumPy treats its own way, makes class_terms return None: dice.py then takes
the NumPy path.  log_loss and a per-class gamma (logarithms and powers) and reduction
"none" stay in NumPy.
"""
from libc.math cimport fabs
from libc.stdint cimport uint8_t, int64_t

cdef enum:
    DL_DS = 0          # work[k]: dL/ds per (group, class)
    DS_DI = 1          # ds/dI
    DS_DP = 2          # ds/dP
    WU = 3             # the class weight where the class is used, else 0
    TERM = 4           # its weighted loss where used, else 0
    WORK_ROWS = 5

ABSENT_KEEP, ABSENT_ZERO, ABSENT_SKIP = 0, 1, 2
DV_SUM, DV_MEAN, DV_ZERO = 0, 1, 2


cdef double _pairwise(const double *a, Py_ssize_t n) noexcept nogil:
    """NumPy's pairwise_sum of n contiguous doubles."""
    cdef double res
    cdef double r[8]
    cdef Py_ssize_t i, j, n2
    if n < 8:
        res = -0.0
        for i in range(n):
            res = res + a[i]
        return res
    if n <= 128:
        for j in range(8):
            r[j] = a[j]
        i = 8
        while i < n - (n % 8):
            for j in range(8):
                r[j] = r[j] + a[i + j]
            i += 8
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        while i < n:
            res = res + a[i]
            i += 1
        return res
    n2 = n // 2
    n2 -= n2 % 8
    return _pairwise(a, n2) + _pairwise(a + n2, n - n2)


cdef inline double np_sum(const double *a, Py_ssize_t n) noexcept nogil:
    """np.sum of a contiguous float64 array: 0.0 plus its pairwise sum."""
    return 0.0 + _pairwise(a, n)


def numpy_sum(const double[::1] a):
    """np_sum over a contiguous float64 vector (for the tests)."""
    return np_sum(&a[0], a.shape[0]) if a.shape[0] else 0.0


def class_terms(const double[:, :, ::1] S, double[:, :, ::1] work, double a, double bP,
                double bT, double c, double s_nr, double s_dr, double eps,
                const double[::1] weight, const uint8_t[::1] selected, int absent,
                bint add_zero):
    """Scores of G groups x C classes (S: (G, C, 3) float64 [I, P, T]; add_zero: S is one
    row, and NumPy's pooled sum over it, 0.0 + S, is taken here).  Fills work (5, G, C):
    dL/ds, ds/dI, ds/dP, the used weight wu and the weighted loss term, and returns
    (np.sum of the terms, np.sum of wu, the number of used entries), or None when a
    denominator is NaN.  weight: the class weights (C,), or None for ones; selected: uint8
    (C,) of the scored classes, or None for all;
    absent: ABSENT_KEEP, _ZERO or _SKIP for a class with T == 0."""
    cdef Py_ssize_t G = S.shape[0], C = S.shape[1], g, k
    cdef double I, P, T, num, den_raw, den, score, loss, dl_ds, wu
    cdef bint active, used
    cdef int64_t count = 0
    cdef bint has_sel = selected is not None, has_weight = weight is not None
    if work.shape[0] != WORK_ROWS or work.shape[1] != G or work.shape[2] != C or \
            (has_weight and weight.shape[0] != C) or (has_sel and selected.shape[0] != C):
        raise ValueError("internal: class_terms got arrays of mismatched shapes")
    for g in range(G):
        for k in range(C):
            I = S[g, k, 0]
            P = S[g, k, 1]
            T = S[g, k, 2]
            if add_zero:
                I = 0.0 + I
                P = 0.0 + P
                T = 0.0 + T
            num = a * I + s_nr
            den_raw = ((bP * P + bT * T) + c * I) + s_dr
            if den_raw != den_raw:
                return None
            den = den_raw if den_raw > eps else eps          # np.maximum(den_raw, eps)
            active = den_raw >= eps
            score = num / den
            if active:
                work[DS_DI, g, k] = (a * den - num * c) / (den * den)
                work[DS_DP, g, k] = (-num * bP) / (den * den)
            else:
                work[DS_DI, g, k] = a / den
                work[DS_DP, g, k] = 0.0
            loss = 1.0 - score
            dl_ds = -1.0
            used = not has_sel or selected[k] != 0
            if T == 0:
                if absent == ABSENT_ZERO:
                    loss = 0.0
                    dl_ds = 0.0
                elif absent == ABSENT_SKIP:
                    used = False
            wu = (weight[k] if has_weight else 1.0) if used else 0.0
            work[DL_DS, g, k] = dl_ds
            work[WU, g, k] = wu
            work[TERM, g, k] = wu * loss if used else 0.0
            count += used
    return (np_sum(&work[TERM, 0, 0], G * C) if G * C else 0.0,
            np_sum(&work[WU, 0, 0], G * C) if G * C else 0.0, count)


cdef inline double _chain(double f1, double f2, double f3) noexcept nogil:
    """dice.py's _chain: the product, 0 wherever a factor is exactly 0."""
    cdef double product = (f1 * f2) * f3
    return 0.0 if f1 == 0 or f2 == 0 or f3 == 0 else product


def chain(const double[:, :, ::1] work, double[:, ::1] dI, double[:, ::1] dP, int dv_kind,
          double g0, double norm, bint gamma_on, double gamma, double factor):
    """dL/dI and dL/dP (G, C) from class_terms' work: dv = wu g0 (DV_SUM), wu g0 / norm
    (DV_MEAN) or 0 (DV_ZERO), times gamma then factor when gamma_on; then the chain rule's
    product with dL/ds and ds/dI (ds/dP), 0 where a factor is 0."""
    cdef Py_ssize_t G = work.shape[1], C = work.shape[2], g, k
    cdef double dv
    if dI.shape[0] != G or dI.shape[1] != C or dP.shape[0] != G or dP.shape[1] != C:
        raise ValueError("internal: chain got arrays of mismatched shapes")
    for g in range(G):
        for k in range(C):
            if dv_kind == DV_SUM:
                dv = work[WU, g, k] * g0
            elif dv_kind == DV_MEAN:
                dv = (work[WU, g, k] * g0) / norm
            else:
                dv = 0.0
            if gamma_on:
                dv = (dv * gamma) * factor
            dI[g, k] = _chain(dv, work[DL_DS, g, k], work[DS_DI, g, k])
            dP[g, k] = _chain(dv, work[DL_DS, g, k], work[DS_DP, g, k])


def fits_float32(const double[:, :] dI, const double[:, :] dP, double bound):
    """dice.py's _fits_float32 on 2-D float64 arrays: |dI| + 2 |dP| <= bound everywhere
    (False where NaN)."""
    cdef Py_ssize_t i, j
    if dI.shape[0] != dP.shape[0] or dI.shape[1] != dP.shape[1]:
        raise ValueError("internal: fits_float32 got arrays of different shapes")
    for i in range(dI.shape[0]):
        for j in range(dI.shape[1]):
            if not (fabs(dI[i, j]) + 2.0 * fabs(dP[i, j]) <= bound):
                return False
    return True
