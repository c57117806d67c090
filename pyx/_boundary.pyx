# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The array-boundary predicates of _layout.py, compiled: whether a kernel can walk an array
with typed pointers, its element strides, whether it overlaps itself.

Every loss call asks these several times (input, target, mask, gradient, out=); in Python
each cost about a microsecond, more than a small batch's whole kernel.  The definitions are
_layout.py's, which documents them and calls these: same answers, same errors.  Also the
key under which a driver remembers what it decided from its arrays' headers
(`header_key`).  Nothing here reads array data, only the arrays' headers (type, flags,
shape, strides, item size).
"""
from cpython.bytes cimport PyBytes_FromStringAndSize
cimport numpy as cnp
from libc.stdint cimport INT64_MAX

cnp.import_array()


cdef bint _whole_elements(cnp.ndarray a) except -1:
    """Every byte stride a multiple of the item size (Python's `s % itemsize == 0`)."""
    cdef int d, nd = cnp.PyArray_NDIM(a)
    cdef cnp.npy_intp isz = cnp.PyArray_ITEMSIZE(a)
    cdef cnp.npy_intp *st = cnp.PyArray_STRIDES(a)
    if nd and isz == 0:
        raise ZeroDivisionError("integer modulo by zero")
    for d in range(nd):
        if st[d] % isz != 0:
            return False
    return True


def walkable(arr):
    """True when a kernel can walk `arr` with typed pointers: its data aligned for its dtype
    and every byte stride a whole number of elements."""
    if not isinstance(arr, cnp.ndarray):       # a NumPy scalar: its header, in Python
        return bool(arr.flags.aligned and all(s % arr.itemsize == 0 for s in arr.strides))
    return bool(cnp.PyArray_ISALIGNED(arr)) and _whole_elements(arr)


def element_strides(arr):
    """`arr`'s strides in elements; ValueError for an array a kernel cannot walk."""
    if not isinstance(arr, cnp.ndarray):
        arr = cnp.PyArray_FROM_O(arr)          # a NumPy scalar: a 0-d array, strides ()
    return _element_strides(arr)


cdef tuple _element_strides(cnp.ndarray arr):
    cdef int d, nd = cnp.PyArray_NDIM(arr)
    cdef cnp.npy_intp isz = cnp.PyArray_ITEMSIZE(arr)
    cdef cnp.npy_intp *st = cnp.PyArray_STRIDES(arr)
    if not (cnp.PyArray_ISALIGNED(arr) and _whole_elements(arr)):
        raise ValueError(f"internal: an array with byte strides {(<object> arr).strides} for item "
                         f"size {(<object> arr).itemsize} (or unaligned data) reached a kernel "
                         f"uncopied")
    return tuple([st[d] // isz for d in range(nd)])


def overlaps_itself(arr):
    """True when two elements of `arr` may share memory (see _layout.overlaps_itself); None
    when a stride or the extent leaves int64 arithmetic, or `arr` is not an ndarray (the
    caller then decides in Python, with unbounded integers)."""
    if not isinstance(arr, cnp.ndarray):
        return None
    return _overlaps_itself(arr)


cdef object _overlaps_itself(cnp.ndarray arr):
    cdef int nd = cnp.PyArray_NDIM(arr), d, i, k = 0
    cdef cnp.npy_intp *st = cnp.PyArray_STRIDES(arr)
    cdef cnp.npy_intp *shape = cnp.PyArray_DIMS(arr)
    cdef cnp.npy_intp s, n, ext = cnp.PyArray_ITEMSIZE(arr)
    cdef cnp.npy_intp ss[64]
    cdef cnp.npy_intp nn[64]
    if nd > 64:
        return None
    for d in range(nd):              # dims of size > 1, by |stride| (insertion sort; ties
        if shape[d] <= 1:            # between equal strides cannot change the answer)
            continue
        if st[d] == -INT64_MAX - 1:
            return None
        s = st[d] if st[d] >= 0 else -st[d]
        i = k
        while i > 0 and ss[i - 1] > s:
            ss[i] = ss[i - 1]
            nn[i] = nn[i - 1]
            i -= 1
        ss[i] = s
        nn[i] = shape[d]
        k += 1
    for i in range(k):
        if ss[i] < ext:
            return True
        if ss[i] and nn[i] - 1 > (INT64_MAX - ext) // ss[i]:
            return None
        ext = ss[i] * (nn[i] - 1) + ext
    return False


# The element types a remembered decision may be about: the floats and integers the losses
# take (and bool masks), each by its one sized type number (an int64 array of another
# number, 'q' where int64 is 'l', is decided anew every time).  For these a type number
# and byte order identify the dtype.
cdef bint _plain_type(int type_num) noexcept:
    return type_num in (cnp.NPY_BOOL, cnp.NPY_UINT8, cnp.NPY_INT16, cnp.NPY_INT32,
                        cnp.NPY_INT64, cnp.NPY_FLOAT16, cnp.NPY_FLOAT32, cnp.NPY_FLOAT64)


cdef enum:
    MAX_KEY_ARRAYS = 4
    MAX_KEY_DIMS = 64          # NumPy 2's NPY_MAXDIMS (32 on NumPy 1)


def header_key(a=None, b=None, c=None, d=None):
    """A key for decisions that depend on arrays' headers alone: for each argument, its
    type number, byte order, alignment, writeability, shape and strides (None: absent).
    Returns None when an argument is neither None nor a plain ndarray (not a subclass) of a
    bool, integer or float type: such calls are decided anew every time.  Two calls with
    equal keys pass the same header checks and get the same layout decisions."""
    cdef cnp.npy_intp buf[MAX_KEY_ARRAYS * (3 + 2 * MAX_KEY_DIMS)]
    cdef Py_ssize_t n = 0
    cdef int k, nd
    cdef cnp.ndarray arr
    for obj in (a, b, c, d):
        if obj is None:
            buf[n] = -1
            n += 1
            continue
        if type(obj) is not cnp.ndarray:
            return None
        arr = <cnp.ndarray> obj
        if not _plain_type(cnp.PyArray_TYPE(arr)):
            return None
        nd = cnp.PyArray_NDIM(arr)
        if nd > MAX_KEY_DIMS:
            return None
        buf[n] = cnp.PyArray_TYPE(arr)
        buf[n + 1] = (cnp.PyArray_ISNOTSWAPPED(arr) + 2 * cnp.PyArray_ISALIGNED(arr)
                      + 4 * cnp.PyArray_ISWRITEABLE(arr))
        buf[n + 2] = nd
        n += 3
        for k in range(nd):
            buf[n + k] = cnp.PyArray_DIMS(arr)[k]
            buf[n + nd + k] = cnp.PyArray_STRIDES(arr)[k]
        n += 2 * nd
    return PyBytes_FromStringAndSize(<char *> buf, n * sizeof(cnp.npy_intp))


cdef extern from "numpy/arrayobject.h":
    # steals no reference; base None: the scalar copies the bytes
    object PyArray_Scalar(void *data, cnp.dtype descr, object base)


def float_scalar(double value, cnp.dtype dtype):
    """`dtype.type(value)`: the NumPy scalar a loss returns, for float32 and float64 made
    from its bytes (NumPy's own constructor costs a tenth of a small call), rounded to
    float32 by a C cast as NumPy does; other dtypes by their constructor."""
    cdef float f
    cdef int num = dtype.type_num
    # the native descriptor: the scalar's type is dtype.type whatever dtype's byte order
    if num == cnp.NPY_FLOAT64:
        return PyArray_Scalar(&value, cnp.PyArray_DescrFromType(num), None)
    if num == cnp.NPY_FLOAT32:
        f = <float> value
        return PyArray_Scalar(&f, cnp.PyArray_DescrFromType(num), None)
    return (<object> dtype).type(value)
