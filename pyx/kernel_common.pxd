# Declarations shared by every kernel module: the target index types and small helpers for
# passing NumPy arrays, offsets and scratch buffers to nogil code.
from libc.stdint cimport int64_t, uint8_t, int16_t, int32_t
cimport numpy as cnp

# Integer class targets are read in their own width, never widened into a copy.
ctypedef fused index_t:
    uint8_t
    int16_t
    int32_t
    int64_t


cdef inline Py_ssize_t align64(Py_ssize_t n) noexcept nogil:
    """n rounded up to a cache line, so per-thread scratch blocks never share one."""
    return (n + 63) & ~(<Py_ssize_t>63)


cdef inline const int64_t *offsets_ptr(object off):
    # if/else, not a conditional expression: Cython gives that a non-const temporary
    if off is None:
        return NULL
    return <const int64_t *> cnp.PyArray_DATA(off)


cdef inline void *data_ptr(object arr):
    return NULL if arr is None else cnp.PyArray_DATA(arr)


cdef extern from "stream_store.h" nogil:
    # Non-temporal copy of a finished gradient tile to a large destination (see the header).
    int onnxl_stream_available()
    void onnxl_stream_copy(void *dst, const void *src, size_t n)
    void onnxl_stream_fence()
