# Typed front ends to the C loops in softmax_loops.h: one name per loop, specialised on the
# float type at compile time, so kernels are written once for float and double.
from cython cimport floating
from libc.stdint cimport int64_t

cdef extern from "softmax_loops.h" nogil:
    int ONNXL_VECTOR_EXP
    const char *onnxl_isa()
    void onnxl_prefetch(const void *p)
    double onnxl_expm1_nonpos(double z)
    enum onnxl_grad_kind:
        ONNXL_GRAD_PLAIN
        ONNXL_GRAD_SMOOTHED
        ONNXL_GRAD_PROBABILITIES
    # the per-position formulas (see softmax_loops.h)
    double onnxl_ce_index(double lse, double x_t, double w_t, int smooth, double qa,
                          double qb, double W, double acc, double *coef)
    double onnxl_ce_index_fix(double g, double qa, double w_t)
    double onnxl_ce_probabilities(double lse, double kx, double k)
    double onnxl_focal_index(double w_t, double qg, double nll)
    double onnxl_focal_index_fix(double g, double w_t, double c)
    void tile_max_f32(const float *x, Py_ssize_t cs, Py_ssize_t C, Py_ssize_t L, float *m)
    void tile_max_f64(const double *x, Py_ssize_t cs, Py_ssize_t C, Py_ssize_t L, double *m)
    void tile_sumexp_f32(const float *x, Py_ssize_t cs, Py_ssize_t C, Py_ssize_t L,
                         const float *m, float *s, float *e, const float *pf)
    void tile_sumexp_f64(const double *x, Py_ssize_t cs, Py_ssize_t C, Py_ssize_t L,
                         const double *m, double *s, double *e, const double *pf)
    void tile_lse_f32(const float *m, const float *s, Py_ssize_t L, double *lse)
    void tile_lse_f64(const double *m, const double *s, Py_ssize_t L, double *lse)
    void tile_wdot_f32(const float *x, Py_ssize_t cs, Py_ssize_t C, Py_ssize_t L,
                       const double *w, double *acc)
    void tile_wdot_f64(const double *x, Py_ssize_t cs, Py_ssize_t C, Py_ssize_t L,
                       const double *w, double *acc)
    void tile_qdot_f32(const float *x, Py_ssize_t cs, const float *q, Py_ssize_t qcs,
                       Py_ssize_t C, Py_ssize_t L, const double *w, double qa, double qb,
                       double *kx, double *k)
    void tile_qdot_f64(const double *x, Py_ssize_t cs, const double *q, Py_ssize_t qcs,
                       Py_ssize_t C, Py_ssize_t L, const double *w, double qa, double qb,
                       double *kx, double *k)
    void tile_grad_f32(const float *e, Py_ssize_t C, Py_ssize_t L, const float *a,
                       const float *b, int kind, const double *w, const float *q,
                       Py_ssize_t qcs, double qa, double qb, const float *keep,
                       const float *tf, const float *fix, float *out, Py_ssize_t ocs,
                       float *dst, Py_ssize_t dcs)
    void tile_grad_f64(const double *e, Py_ssize_t C, Py_ssize_t L, const double *a,
                       const double *b, int kind, const double *w, const double *q,
                       Py_ssize_t qcs, double qa, double qb, const double *keep,
                       const double *tf, const double *fix, double *out, Py_ssize_t ocs,
                       double *dst, Py_ssize_t dcs)
    void tile_grad_positions_f32(Py_ssize_t L, const unsigned char *cnt, const int64_t *tt,
                                 const double *fix, float *keep, float *tf, float *fixt)
    void tile_grad_positions_f64(Py_ssize_t L, const unsigned char *cnt, const int64_t *tt,
                                 const double *fix, double *keep, double *tf, double *fixt)
    void tile_gather_f32(const float *src, Py_ssize_t cs, Py_ssize_t ps, Py_ssize_t C,
                         Py_ssize_t L, float *dst, const float *next, Py_ssize_t next_len)
    void tile_gather_f64(const double *src, Py_ssize_t cs, Py_ssize_t ps, Py_ssize_t C,
                         Py_ssize_t L, double *dst, const double *next, Py_ssize_t next_len)
    void tile_scatter_f32(const float *src, Py_ssize_t C, Py_ssize_t L, float *dst,
                          Py_ssize_t cs, Py_ssize_t ps, int stream)
    void tile_scatter_f64(const double *src, Py_ssize_t C, Py_ssize_t L, double *dst,
                          Py_ssize_t cs, Py_ssize_t ps, int stream)
    double tile_hard_f32(Py_ssize_t L, const float *x, Py_ssize_t cs, const int64_t *tt,
                         const unsigned char *cnt, const double *lse, const double *w,
                         double qa, double qb, double W, const double *acc, double scale,
                         const float *s, double *lo, float *a, float *b, double *fix)
    double tile_hard_f64(Py_ssize_t L, const double *x, Py_ssize_t cs, const int64_t *tt,
                         const unsigned char *cnt, const double *lse, const double *w,
                         double qa, double qb, double W, const double *acc, double scale,
                         const double *s, double *lo, double *a, double *b, double *fix)
    double tile_focal_f32(Py_ssize_t L, const float *x, Py_ssize_t cs, const int64_t *tt,
                          const unsigned char *cnt, const double *lse, const double *w,
                          double gamma, double scale, const float *s, double *nll,
                          double *qg, double *coef, float *a, float *b, double *fix)
    double tile_focal_f64(Py_ssize_t L, const double *x, Py_ssize_t cs, const int64_t *tt,
                          const unsigned char *cnt, const double *lse, const double *w,
                          double gamma, double scale, const double *s, double *nll,
                          double *qg, double *coef, double *a, double *b, double *fix)
    void focal_terms(Py_ssize_t L, const double *nll, double gamma, double *qg, double *coef)
    float row_max_f32(const float *x, Py_ssize_t C)
    double row_max_f64(const double *x, Py_ssize_t C)
    float row_sumexp_f32(const float *x, Py_ssize_t C, float m, float *e)
    double row_sumexp_f64(const double *x, Py_ssize_t C, double m, double *e)
    double row_wdot_f32(const float *x, Py_ssize_t C, const double *w)
    double row_wdot_f64(const double *x, Py_ssize_t C, const double *w)
    void row_qdot_f32(const float *x, const float *q, Py_ssize_t qcs, Py_ssize_t C,
                      const double *w, double qa, double qb, double *kx, double *k)
    void row_qdot_f64(const double *x, const double *q, Py_ssize_t qcs, Py_ssize_t C,
                      const double *w, double qa, double qb, double *kx, double *k)
    void row_grad_f32(const float *e, Py_ssize_t C, float a, float b, int kind,
                      const double *w, const float *q, Py_ssize_t qcs, double qa, double qb,
                      float *out, Py_ssize_t ocs)
    void row_grad_f64(const double *e, Py_ssize_t C, double a, double b, int kind,
                      const double *w, const double *q, Py_ssize_t qcs, double qa, double qb,
                      double *out, Py_ssize_t ocs)


cdef inline void tile_max(const floating *x, Py_ssize_t cs, Py_ssize_t C, Py_ssize_t L,
                          floating *m) noexcept nogil:
    if floating is float:
        tile_max_f32(x, cs, C, L, m)
    else:
        tile_max_f64(x, cs, C, L, m)

cdef inline void tile_sumexp(const floating *x, Py_ssize_t cs, Py_ssize_t C, Py_ssize_t L,
                             const floating *m, floating *s, floating *e,
                             const floating *pf) noexcept nogil:
    if floating is float:
        tile_sumexp_f32(x, cs, C, L, m, s, e, pf)
    else:
        tile_sumexp_f64(x, cs, C, L, m, s, e, pf)

cdef inline void tile_lse(const floating *m, const floating *s, Py_ssize_t L,
                          double *lse) noexcept nogil:
    if floating is float:
        tile_lse_f32(m, s, L, lse)
    else:
        tile_lse_f64(m, s, L, lse)

cdef inline void tile_wdot(const floating *x, Py_ssize_t cs, Py_ssize_t C, Py_ssize_t L,
                           const double *w, double *acc) noexcept nogil:
    if floating is float:
        tile_wdot_f32(x, cs, C, L, w, acc)
    else:
        tile_wdot_f64(x, cs, C, L, w, acc)

cdef inline void tile_qdot(const floating *x, Py_ssize_t cs, const floating *q, Py_ssize_t qcs,
                           Py_ssize_t C, Py_ssize_t L, const double *w, double qa, double qb,
                           double *kx, double *k) noexcept nogil:
    if floating is float:
        tile_qdot_f32(x, cs, q, qcs, C, L, w, qa, qb, kx, k)
    else:
        tile_qdot_f64(x, cs, q, qcs, C, L, w, qa, qb, kx, k)

cdef inline double tile_hard(Py_ssize_t L, const floating *x, Py_ssize_t cs,
                             const int64_t *tt, const unsigned char *cnt, const double *lse,
                             const double *w, double qa, double qb, double W,
                             const double *acc, double scale, const floating *s, double *lo,
                             floating *a, floating *b, double *fix) noexcept nogil:
    if floating is float:
        return tile_hard_f32(L, x, cs, tt, cnt, lse, w, qa, qb, W, acc, scale, s, lo, a, b,
                             fix)
    else:
        return tile_hard_f64(L, x, cs, tt, cnt, lse, w, qa, qb, W, acc, scale, s, lo, a, b,
                             fix)


cdef inline double tile_focal(Py_ssize_t L, const floating *x, Py_ssize_t cs,
                              const int64_t *tt, const unsigned char *cnt, const double *lse,
                              const double *w, double gamma, double scale,
                              const floating *s, double *nll, double *qg, double *coef,
                              floating *a, floating *b, double *fix) noexcept nogil:
    if floating is float:
        return tile_focal_f32(L, x, cs, tt, cnt, lse, w, gamma, scale, s, nll, qg, coef, a,
                              b, fix)
    else:
        return tile_focal_f64(L, x, cs, tt, cnt, lse, w, gamma, scale, s, nll, qg, coef, a,
                              b, fix)


cdef inline void tile_grad(const floating *e, Py_ssize_t C, Py_ssize_t L, const floating *a,
                           const floating *b, int kind, const double *w, const floating *q,
                           Py_ssize_t qcs, double qa, double qb, const floating *keep,
                           const floating *tf, const floating *fix, floating *out,
                           Py_ssize_t ocs, floating *dst, Py_ssize_t dcs) noexcept nogil:
    if floating is float:
        tile_grad_f32(e, C, L, a, b, kind, w, q, qcs, qa, qb, keep, tf, fix, out, ocs, dst, dcs)
    else:
        tile_grad_f64(e, C, L, a, b, kind, w, q, qcs, qa, qb, keep, tf, fix, out, ocs, dst, dcs)

cdef inline void tile_grad_positions(Py_ssize_t L, const unsigned char *cnt, const int64_t *tt,
                                     const double *fix, floating *keep, floating *tf,
                                     floating *fixt) noexcept nogil:
    if floating is float:
        tile_grad_positions_f32(L, cnt, tt, fix, keep, tf, fixt)
    else:
        tile_grad_positions_f64(L, cnt, tt, fix, keep, tf, fixt)

cdef inline void tile_gather(const floating *src, Py_ssize_t cs, Py_ssize_t ps, Py_ssize_t C,
                             Py_ssize_t L, floating *dst, const floating *next=NULL,
                             Py_ssize_t next_len=0) noexcept nogil:
    """`next` (channels-last only): the next tile of the same run, next_len positions,
    prefetched while this one is gathered."""
    if floating is float:
        tile_gather_f32(src, cs, ps, C, L, dst, next, next_len)
    else:
        tile_gather_f64(src, cs, ps, C, L, dst, next, next_len)

cdef inline void tile_scatter(const floating *src, Py_ssize_t C, Py_ssize_t L, floating *dst,
                              Py_ssize_t cs, Py_ssize_t ps, bint stream) noexcept nogil:
    """`stream`: channels-last destinations (cs 1, ps C) are written with streaming stores
    (transpose.h); other layouts ignore it."""
    if floating is float:
        tile_scatter_f32(src, C, L, dst, cs, ps, stream)
    else:
        tile_scatter_f64(src, C, L, dst, cs, ps, stream)

cdef inline floating row_max(const floating *x, Py_ssize_t C) noexcept nogil:
    if floating is float:
        return row_max_f32(x, C)
    else:
        return row_max_f64(x, C)

cdef inline floating row_sumexp(const floating *x, Py_ssize_t C, floating m,
                                floating *e) noexcept nogil:
    if floating is float:
        return row_sumexp_f32(x, C, m, e)
    else:
        return row_sumexp_f64(x, C, m, e)

cdef inline double row_wdot(const floating *x, Py_ssize_t C, const double *w) noexcept nogil:
    if floating is float:
        return row_wdot_f32(x, C, w)
    else:
        return row_wdot_f64(x, C, w)

cdef inline void row_qdot(const floating *x, const floating *q, Py_ssize_t qcs, Py_ssize_t C,
                          const double *w, double qa, double qb, double *kx,
                          double *k) noexcept nogil:
    if floating is float:
        row_qdot_f32(x, q, qcs, C, w, qa, qb, kx, k)
    else:
        row_qdot_f64(x, q, qcs, C, w, qa, qb, kx, k)

cdef inline void row_grad(const floating *e, Py_ssize_t C, floating a, floating b, int kind,
                          const double *w, const floating *q, Py_ssize_t qcs, double qa,
                          double qb, floating *out, Py_ssize_t ocs) noexcept nogil:
    if floating is float:
        row_grad_f32(e, C, a, b, kind, w, q, qcs, qa, qb, out, ocs)
    else:
        row_grad_f64(e, C, a, b, kind, w, q, qcs, qa, qb, out, ocs)
