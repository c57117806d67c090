# Declarations of the guarded OpenMP shim; see openmp_shim.h.
cdef extern from "openmp_shim.h" nogil:
    int ONNXL_OPENMP
    int omp_get_max_threads()
