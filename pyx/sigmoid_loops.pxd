# Typed front ends to the C loops in sigmoid_loops.h.
from cython cimport floating

cdef extern from "sigmoid_loops.h" nogil:
    void bce_prob_f32(Py_ssize_t L, const float *p, const float *y, const float *w,
                      const float *go, float *lo, float *g, double *sum)
    void bce_prob_f64(Py_ssize_t L, const double *p, const double *y, const double *w,
                      const double *go, double *lo, double *g, double *sum)
    void bce_logits_f32(Py_ssize_t L, const float *x, const float *y, const float *w,
                        const float *pw, const float *go, float *lo, float *g, double *sum)
    void bce_logits_f64(Py_ssize_t L, const double *x, const double *y, const double *w,
                        const double *pw, const double *go, double *lo, double *g, double *sum)
    void sigmoid_focal_f32(Py_ssize_t L, float gamma, float alpha, float thr, const float *x,
                           const float *y, const unsigned char *cnt, const float *go, float B,
                           float *lo, float *g, double *sums)
    void sigmoid_focal_f64(Py_ssize_t L, double gamma, double alpha, double thr,
                           const double *x, const double *y, const unsigned char *cnt,
                           const double *go, double B, double *lo, double *g, double *sums)


cdef inline void bce_prob(Py_ssize_t L, const floating *p, const floating *y, const floating *w,
                          const floating *go, floating *lo, floating *g,
                          double *sum) noexcept nogil:
    if floating is float:
        bce_prob_f32(L, p, y, w, go, lo, g, sum)
    else:
        bce_prob_f64(L, p, y, w, go, lo, g, sum)

cdef inline void bce_logits(Py_ssize_t L, const floating *x, const floating *y,
                            const floating *w, const floating *pw, const floating *go,
                            floating *lo, floating *g, double *sum) noexcept nogil:
    if floating is float:
        bce_logits_f32(L, x, y, w, pw, go, lo, g, sum)
    else:
        bce_logits_f64(L, x, y, w, pw, go, lo, g, sum)

cdef inline void sigmoid_focal(Py_ssize_t L, double gamma, double alpha, double thr,
                               const floating *x, const floating *y, const unsigned char *cnt,
                               const floating *go, double B, floating *lo, floating *g,
                               double *sums) noexcept nogil:
    if floating is float:
        sigmoid_focal_f32(L, <float> gamma, <float> alpha, <float> thr, x, y, cnt, go,
                          <float> B, lo, g, sums)
    else:
        sigmoid_focal_f64(L, gamma, alpha, thr, x, y, cnt, go, B, lo, g, sums)
