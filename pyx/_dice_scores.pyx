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
import numpy as np
cimport numpy as cnp
from libc.math cimport fabs
from libc.stdint cimport uint8_t, int64_t

cnp.import_array()

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


def numpy_sum(a):
    """np_sum over a contiguous float64 vector (for the tests)."""
    return np_sum(_doubles(a, a.size), a.size) if a.size else 0.0


cdef const double *_doubles(arr, Py_ssize_t n, bint writable=False) except NULL:
    """The data of a C-contiguous float64 ndarray of n elements (a raw pointer: typed
    memoryviews cost more to acquire than this whole loop on a small C)."""
    cdef cnp.ndarray a = arr
    if cnp.PyArray_TYPE(a) != cnp.NPY_FLOAT64 or not cnp.PyArray_IS_C_CONTIGUOUS(a) or \
            cnp.PyArray_SIZE(a) != n or (writable and not cnp.PyArray_ISWRITEABLE(a)):
        raise ValueError("internal: _dice_scores needs C-contiguous float64 arrays of the "
                         "statistics' size")
    return <const double *> cnp.PyArray_DATA(a)


def class_terms(S, work, double a, double bP, double bT, double c, double s_nr,
                double s_dr, double eps, weight, selected, int absent, bint add_zero):
    """Scores of G groups x C classes (S: (G, C, 3) float64 [I, P, T]; add_zero: S is one
    row, and NumPy's pooled sum over it, 0.0 + S, is taken here).  Fills work (5, G, C):
    dL/ds, ds/dI, ds/dP, the used weight wu and the weighted loss term, and returns
    (np.sum of the terms, np.sum of wu, the number of used entries), or None when a
    denominator is NaN.  weight: the class weights (C,), or None for ones; selected: uint8
    (C,) of the scored classes, or None for all; absent: ABSENT_KEEP, _ZERO or _SKIP for a
    class with T == 0.  Every array C-contiguous."""
    cdef Py_ssize_t G = S.shape[0], C = S.shape[1], n = G * C, g, k, e
    cdef const double *st
    cdef double *wk
    cdef const double *w = NULL
    cdef const uint8_t *sel = NULL
    cdef double I, P, T, num, den_raw, den, score, loss, dl_ds, wu
    cdef bint used
    cdef int64_t count = 0
    if n == 0:
        return 0.0, 0.0, 0
    st = _doubles(S, 3 * n)
    wk = <double *> _doubles(work, WORK_ROWS * n, True)
    if weight is not None:
        w = _doubles(weight, C)
    if selected is not None:
        if selected.dtype != np.uint8 or not selected.flags.c_contiguous or \
                selected.shape[0] != C:
            raise ValueError("internal: class_terms' selected must be uint8 (C,)")
        sel = <const uint8_t *> cnp.PyArray_DATA(selected)
    for g in range(G):
        for k in range(C):
            e = g * C + k
            I = st[3 * e]
            P = st[3 * e + 1]
            T = st[3 * e + 2]
            if add_zero:
                I = 0.0 + I
                P = 0.0 + P
                T = 0.0 + T
            num = a * I + s_nr
            den_raw = ((bP * P + bT * T) + c * I) + s_dr
            if den_raw != den_raw:
                return None
            den = den_raw if den_raw > eps else eps          # np.maximum(den_raw, eps)
            score = num / den
            if den_raw >= eps:                                # the clamp passes the gradient
                # a den - num c with the c I terms taken out (they cancel exactly): a
                # Tversky score with alpha = beta = 0 is (I + s_nr) / (I + s_dr), whose
                # slope (s_dr - s_nr) / den^2 the difference lost to rounding
                wk[DS_DI * n + e] = (a * ((bP * P + bT * T) + s_dr) - s_nr * c) / (den * den)
                wk[DS_DP * n + e] = (-num * bP) / (den * den)
            else:
                wk[DS_DI * n + e] = a / den
                wk[DS_DP * n + e] = 0.0
            loss = 1.0 - score
            dl_ds = -1.0
            used = sel == NULL or sel[k] != 0
            if T == 0:
                if absent == ABSENT_ZERO:
                    loss = 0.0
                    dl_ds = 0.0
                elif absent == ABSENT_SKIP:
                    used = False
            wu = (w[k] if w != NULL else 1.0) if used else 0.0
            wk[DL_DS * n + e] = dl_ds
            wk[WU * n + e] = wu
            wk[TERM * n + e] = wu * loss if used else 0.0
            count += used
    return np_sum(wk + TERM * n, n), np_sum(wk + WU * n, n), count


cdef inline double _chain(double f1, double f2, double f3) noexcept nogil:
    """dice.py's _chain: the product, 0 wherever a factor is exactly 0."""
    cdef double product = (f1 * f2) * f3
    return 0.0 if f1 == 0 or f2 == 0 or f3 == 0 else product


def chain(work, dI, dP, int dv_kind, double g0, double norm, bint gamma_on, double gamma,
          double factor):
    """dL/dI and dL/dP (G, C) from class_terms' work: dv = wu g0 (DV_SUM), wu g0 / norm
    (DV_MEAN) or 0 (DV_ZERO), times gamma then factor when gamma_on; then the chain rule's
    product with dL/ds and ds/dI (ds/dP), 0 where a factor is 0."""
    cdef Py_ssize_t n = dI.size, e
    cdef const double *wk
    cdef double *di
    cdef double *dp
    cdef double dv
    if n == 0:
        return
    wk = _doubles(work, WORK_ROWS * n)
    di = <double *> _doubles(dI, n, True)
    dp = <double *> _doubles(dP, n, True)
    for e in range(n):
        if dv_kind == DV_SUM:
            dv = wk[WU * n + e] * g0
        elif dv_kind == DV_MEAN:
            dv = (wk[WU * n + e] * g0) / norm
        else:
            dv = 0.0
        if gamma_on:
            dv = (dv * gamma) * factor
        di[e] = _chain(dv, wk[DL_DS * n + e], wk[DS_DI * n + e])
        dp[e] = _chain(dv, wk[DL_DS * n + e], wk[DS_DP * n + e])


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
