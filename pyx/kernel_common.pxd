# Declarations shared by every kernel module: how an operand is described to nogil code,
# how per-thread scratch is laid out, and small helpers for passing NumPy arrays.
from libc.stdint cimport int64_t
cimport numpy as cnp


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


# One array as the kernels walk it (_layout.walk): the positions (N, d1, ..., dk) are
# n_outer outer indices, each starting at element off[o], times `inner` positions at stride
# ps; arrays with a class axis step cs elements from one class to the next.  Strides and
# offsets count elements of the array's own type; data is NULL for an absent operand.
cdef struct Operand:
    char *data
    const int64_t *off
    Py_ssize_t ps
    Py_ssize_t cs


cdef inline Operand operand(arr, offsets, Py_ssize_t ps, Py_ssize_t cs=0):
    cdef Operand op
    op.data = <char *> data_ptr(arr)
    op.off = offsets_ptr(offsets) if arr is not None else NULL
    op.ps = ps
    op.cs = cs
    return op


cdef inline Py_ssize_t at(const Operand *op, Py_ssize_t o, Py_ssize_t j) noexcept nogil:
    """Element index of position j of outer index o."""
    return op.off[o] + j * op.ps


# Per-thread scratch: one block per thread, carved into cache-line-aligned buffers by one
# layout function per kernel, which runs twice: with base NULL to size the block, and on
# each thread's block to find its buffers.  So the size and the carving cannot disagree.
cdef struct Carver:
    char *base
    Py_ssize_t used


cdef inline char *carve(Carver *c, Py_ssize_t nbytes) noexcept nogil:
    cdef char *p = c.base + c.used if c.base != NULL else NULL
    c.used += align64(nbytes)
    return p


cdef inline Py_ssize_t fitted_tile(Py_ssize_t tile, Py_ssize_t inner) noexcept nogil:
    """A tile no longer than a walk row (`inner` positions), rounded up to the vector
    width: the same tiles as `tile` (one per row either way), and a short row's scratch as
    small as its data."""
    cdef Py_ssize_t row = (inner + 15) // 16 * 16
    return row if 0 < row < tile else tile


cdef inline char *aligned_blocks(cnp.ndarray buf) noexcept:
    """The first cache-line boundary in buf (allocated 64 bytes longer than its blocks)."""
    cdef char *p = <char *> cnp.PyArray_DATA(buf)
    return p + ((64 - (<size_t> p) % 64) % 64)


cdef extern from "stream_store.h" nogil:
    # Non-temporal copy of a finished gradient tile to a large destination (see the header).
    int onnxl_stream_available()
    void onnxl_stream_copy(void *dst, const void *src, size_t n)
    void onnxl_stream_fence()
