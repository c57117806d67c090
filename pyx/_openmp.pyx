# cython: language_level=3
"""What the build knows about OpenMP and the vector exponential (see show_config)."""
from openmp cimport ONNXL_OPENMP, omp_get_max_threads
from softmax_loops cimport ONNXL_VECTOR_EXP, onnxl_isa

cdef extern from "stream_store.h" nogil:
    int onnxl_stream_available()

openmp_enabled = bool(ONNXL_OPENMP)
vector_exp = bool(ONNXL_VECTOR_EXP)
isa = onnxl_isa().decode()
stream_available = bool(onnxl_stream_available())


def max_threads():
    """OpenMP's default team size (OMP_NUM_THREADS when set, else the cores it sees)."""
    return omp_get_max_threads()
