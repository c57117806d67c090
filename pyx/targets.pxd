# The target loops of targets.h, for a target array of any width (1, 2, 4 or 8 bytes):
# `t` is the array's data, `at` the element to start from.
from libc.stdint cimport int64_t, uint8_t

cdef extern from "targets.h" nogil:
    void onnxl_targets_tile(const void *t, int width, Py_ssize_t at, Py_ssize_t ts,
                            const uint8_t *mk, Py_ssize_t ms, Py_ssize_t L, bint use_ii,
                            int64_t ii, int64_t *tt, uint8_t *cnt)
    void onnxl_targets_scan(const void *t, int width, Py_ssize_t at, Py_ssize_t ts,
                            const uint8_t *mk, Py_ssize_t ms, Py_ssize_t n, bint use_ii,
                            int64_t ii, int64_t C, const double *w, int64_t *count,
                            int64_t *bad, int64_t *first_bad, double *wsum)
