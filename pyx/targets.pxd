# Typed front ends to the target loops in targets.h: one name, specialised on the target
# width at compile time.
from libc.stdint cimport int64_t, uint8_t, int16_t, int32_t

from kernel_common cimport index_t

cdef extern from "targets.h" nogil:
    void targets_scan_u8(const uint8_t *t, Py_ssize_t ts, const uint8_t *mk, Py_ssize_t ms,
                         Py_ssize_t n, bint use_ii, int64_t ii, int64_t C, const double *w,
                         int64_t *count, int64_t *bad, int64_t *first_bad, double *wsum)
    void targets_scan_i16(const int16_t *t, Py_ssize_t ts, const uint8_t *mk, Py_ssize_t ms,
                          Py_ssize_t n, bint use_ii, int64_t ii, int64_t C, const double *w,
                          int64_t *count, int64_t *bad, int64_t *first_bad, double *wsum)
    void targets_scan_i32(const int32_t *t, Py_ssize_t ts, const uint8_t *mk, Py_ssize_t ms,
                          Py_ssize_t n, bint use_ii, int64_t ii, int64_t C, const double *w,
                          int64_t *count, int64_t *bad, int64_t *first_bad, double *wsum)
    void targets_scan_i64(const int64_t *t, Py_ssize_t ts, const uint8_t *mk, Py_ssize_t ms,
                          Py_ssize_t n, bint use_ii, int64_t ii, int64_t C, const double *w,
                          int64_t *count, int64_t *bad, int64_t *first_bad, double *wsum)
    void targets_tile_u8(const uint8_t *t, Py_ssize_t ts, const uint8_t *mk, Py_ssize_t ms,
                         Py_ssize_t L, int64_t ii, int64_t *tt, uint8_t *cnt)
    void targets_tile_i16(const int16_t *t, Py_ssize_t ts, const uint8_t *mk, Py_ssize_t ms,
                          Py_ssize_t L, int64_t ii, int64_t *tt, uint8_t *cnt)
    void targets_tile_i32(const int32_t *t, Py_ssize_t ts, const uint8_t *mk, Py_ssize_t ms,
                          Py_ssize_t L, int64_t ii, int64_t *tt, uint8_t *cnt)
    void targets_tile_i64(const int64_t *t, Py_ssize_t ts, const uint8_t *mk, Py_ssize_t ms,
                          Py_ssize_t L, int64_t ii, int64_t *tt, uint8_t *cnt)


cdef inline void targets_scan(const index_t *t, Py_ssize_t ts, const uint8_t *mk,
                              Py_ssize_t ms, Py_ssize_t n, bint use_ii, int64_t ii, int64_t C,
                              const double *w, int64_t *count, int64_t *bad,
                              int64_t *first_bad, double *wsum) noexcept nogil:
    if index_t is uint8_t:
        targets_scan_u8(t, ts, mk, ms, n, use_ii, ii, C, w, count, bad, first_bad, wsum)
    elif index_t is int16_t:
        targets_scan_i16(t, ts, mk, ms, n, use_ii, ii, C, w, count, bad, first_bad, wsum)
    elif index_t is int32_t:
        targets_scan_i32(t, ts, mk, ms, n, use_ii, ii, C, w, count, bad, first_bad, wsum)
    else:
        targets_scan_i64(t, ts, mk, ms, n, use_ii, ii, C, w, count, bad, first_bad, wsum)


cdef inline void targets_tile(const index_t *t, Py_ssize_t ts, const uint8_t *mk,
                              Py_ssize_t ms, Py_ssize_t L, int64_t ii, int64_t *tt,
                              uint8_t *cnt) noexcept nogil:
    if index_t is uint8_t:
        targets_tile_u8(t, ts, mk, ms, L, ii, tt, cnt)
    elif index_t is int16_t:
        targets_tile_i16(t, ts, mk, ms, L, ii, tt, cnt)
    elif index_t is int32_t:
        targets_tile_i32(t, ts, mk, ms, L, ii, tt, cnt)
    else:
        targets_tile_i64(t, ts, mk, ms, L, ii, tt, cnt)
