/* The only place that includes <omp.h>.  Without OpenMP the package still builds and runs
 * serially: these stand-ins report one thread. */
#ifndef ONNXLOSSES_OPENMP_SHIM_H
#define ONNXLOSSES_OPENMP_SHIM_H
#ifdef _OPENMP
#include <omp.h>
#define ONNXL_OPENMP 1
#else
#define ONNXL_OPENMP 0
static inline int omp_get_max_threads(void) { return 1; }
static inline int omp_get_thread_num(void) { return 0; }
#endif
#endif
