/* Stand-ins for the CUDA runtime and driver, cuBLAS(Lt), cuRAND, cuFFT and cuDNN, for
 * `python -m onnxlosses placement`: with these on the library path onnxruntime-gpu's CUDA
 * execution provider loads and creates sessions on a machine without a GPU, so its
 * partitioner and CUDA kernel lookup (which run at session creation) say where each node
 * of a graph would run.  Nothing here computes: a session is created, never run.
 *
 * Written from the functions' documented behaviour, not from NVIDIA's headers: every
 * status code these libraries return is 0 for success, handles are opaque pointers and
 * "device" memory is host memory.  This file defines the functions whose output the
 * provider reads while it loads and creates a session; every other function the provider
 * library imports is generated at build time (from `readelf --dyn-syms` of that library)
 * as a function that returns 0.  Each stub library is built from this file plus the
 * generated one, with a version script naming the library's soname as its symbol version
 * (the provider's imports are versioned, e.g. cudaMalloc@libcudart.so.13).
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#ifndef STUB_CUDA_VERSION
#define STUB_CUDA_VERSION 12000     /* major * 1000 + minor * 10, set by the build */
#endif

static char handle_storage[64];     /* what every opaque handle points to */
#define HANDLE ((void *)handle_storage)

static int succeed(void) { return 0; }

/* ---- devices ---- */
int cudaGetDeviceCount(int *count) { if (count) *count = 1; return 0; }
int cudaGetDevice(int *device) { if (device) *device = 0; return 0; }
int cudaSetDevice(int device) { (void)device; return 0; }
/* Every attribute reads 8: a compute capability 8.x device with nonzero limits. */
int cudaDeviceGetAttribute(int *value, int attr, int device)
{ (void)attr; (void)device; if (value) *value = 8; return 0; }
/* The property struct is caller-allocated and larger than 256 bytes; its name comes first. */
int cudaGetDeviceProperties(void *prop, int device)
{ (void)device; if (prop) { memset(prop, 0, 256); strcpy((char *)prop, "placement stub"); } return 0; }
int cudaGetDeviceProperties_v2(void *prop, int device) { return cudaGetDeviceProperties(prop, device); }
int cudaDriverGetVersion(int *v) { if (v) *v = STUB_CUDA_VERSION; return 0; }
int cudaRuntimeGetVersion(int *v) { if (v) *v = STUB_CUDA_VERSION; return 0; }
int cudaMemGetInfo(size_t *free_bytes, size_t *total)
{ if (free_bytes) *free_bytes = (size_t)8 << 30; if (total) *total = (size_t)16 << 30; return 0; }
int cuInit(unsigned flags) { (void)flags; return 0; }
int cuDriverGetVersion(int *v) { if (v) *v = STUB_CUDA_VERSION; return 0; }
int cuDeviceGetCount(int *count) { if (count) *count = 1; return 0; }

/* ---- memory: host memory stands in for device and pinned memory (never freed: the
 * check creates a few thousand small sessions and exits) ---- */
static int host_alloc(void **ptr, size_t size)
{ if (!ptr) return 1; *ptr = calloc(1, size ? size : 1); return *ptr ? 0 : 2; }
int cudaMalloc(void **ptr, size_t size) { return host_alloc(ptr, size); }
int cudaMallocHost(void **ptr, size_t size) { return host_alloc(ptr, size); }
int cudaHostAlloc(void **ptr, size_t size, unsigned flags) { (void)flags; return host_alloc(ptr, size); }
int cudaMallocAsync(void **ptr, size_t size, void *stream) { (void)stream; return host_alloc(ptr, size); }
int cudaMallocFromPoolAsync(void **ptr, size_t size, void *pool, void *stream)
{ (void)pool; (void)stream; return host_alloc(ptr, size); }
int cudaMemcpy(void *dst, const void *src, size_t n, int kind)
{ (void)kind; if (dst && src && n) memmove(dst, src, n); return 0; }
int cudaMemcpyAsync(void *dst, const void *src, size_t n, int kind, void *stream)
{ (void)stream; return cudaMemcpy(dst, src, n, kind); }
int cudaMemset(void *dst, int value, size_t n) { if (dst && n) memset(dst, value, n); return 0; }
int cudaMemsetAsync(void *dst, int value, size_t n, void *stream)
{ (void)stream; return cudaMemset(dst, value, n); }

/* ---- handles: every create/load call hands out the same opaque pointer ---- */
static int make_handle(void **out) { if (out) *out = HANDLE; return 0; }
int cudaStreamCreate(void **s) { return make_handle(s); }
int cudaStreamCreateWithFlags(void **s, unsigned f) { (void)f; return make_handle(s); }
int cudaStreamCreateWithPriority(void **s, unsigned f, int p) { (void)f; (void)p; return make_handle(s); }
int cudaEventCreate(void **e) { return make_handle(e); }
int cudaEventCreateWithFlags(void **e, unsigned f) { (void)f; return make_handle(e); }
int cudaMemPoolCreate(void **pool, const void *props) { (void)props; return make_handle(pool); }
int cudaLibraryLoadData(void **lib) { return make_handle(lib); }
int cudaLibraryGetKernel(void **kernel) { return make_handle(kernel); }
int cudaStreamIsCapturing(void *stream, int *status) { (void)stream; if (status) *status = 0; return 0; }
int cublasCreate_v2(void **h) { return make_handle(h); }
int cublasLtCreate(void **h) { return make_handle(h); }
int cublasLtMatmulDescCreate(void **d) { return make_handle(d); }
int cublasLtMatmulPreferenceCreate(void **p) { return make_handle(p); }
int cublasLtMatrixLayoutCreate(void **l) { return make_handle(l); }
int cublasLtMatrixTransformDescCreate(void **d) { return make_handle(d); }
int cublasGetMathMode(void *h, int *mode) { (void)h; if (mode) *mode = 0; return 0; }
int curandCreateGenerator(void **g) { return make_handle(g); }
int cufftCreate(void **plan) { return make_handle(plan); }
int cudnnCreate(void **h) { return make_handle(h); }
int cudnnCreateTensorDescriptor(void **d) { return make_handle(d); }
int cudnnCreateFilterDescriptor(void **d) { return make_handle(d); }
int cudnnCreateConvolutionDescriptor(void **d) { return make_handle(d); }
int cudnnCreateActivationDescriptor(void **d) { return make_handle(d); }
int cudnnCreateReduceTensorDescriptor(void **d) { return make_handle(d); }
int cudnnCreateDropoutDescriptor(void **d) { return make_handle(d); }
int cudnnCreatePoolingDescriptor(void **d) { return make_handle(d); }
int cudnnCreateLRNDescriptor(void **d) { return make_handle(d); }
int cudnnCreateRNNDescriptor(void **d) { return make_handle(d); }
int cudnnCreateRNNDataDescriptor(void **d) { return make_handle(d); }
int cudnnCreateOpTensorDescriptor(void **d) { return make_handle(d); }
int cudnnCreateSpatialTransformerDescriptor(void **d) { return make_handle(d); }
/* cuDNN reports its version as a size_t: major * 10000 + minor * 100 + patch, 9.99.0 here */
size_t cudnnGetVersion(void) { return 99900; }
size_t cudnnGetCudartVersion(void) { return STUB_CUDA_VERSION; }

/* ---- error texts: callers format them into messages, so never NULL ---- */
const char *cudaGetErrorString(int e) { (void)e; return "placement stub"; }
const char *cudaGetErrorName(int e) { (void)e; return "placement stub"; }
const char *cublasGetStatusString(int s) { (void)s; return "placement stub"; }
const char *cublasGetStatusName(int s) { (void)s; return "placement stub"; }
const char *cudnnGetErrorString(int s) { (void)s; return "placement stub"; }
int cuGetErrorString(int e, const char **text) { (void)e; if (text) *text = "placement stub"; return 0; }
int cuGetErrorName(int e, const char **text) { (void)e; if (text) *text = "placement stub"; return 0; }

/* ---- driver entry points: a function that succeeds, whatever it is asked for ---- */
int cudaGetDriverEntryPoint(const char *symbol, void **fn, unsigned long long flags, int *status)
{ (void)symbol; (void)flags; if (fn) *fn = (void *)succeed; if (status) *status = 0; return 0; }
int cudaGetDriverEntryPointByVersion(const char *symbol, void **fn, unsigned version,
                                     unsigned long long flags, int *status)
{ (void)symbol; (void)version; (void)flags; if (fn) *fn = (void *)succeed; if (status) *status = 0; return 0; }
int cuGetProcAddress(const char *symbol, void **fn)
{ (void)symbol; if (fn) *fn = (void *)succeed; return 0; }
int cuGetProcAddress_v2(const char *symbol, void **fn)
{ (void)symbol; if (fn) *fn = (void *)succeed; return 0; }

/* ---- the registration calls nvcc-compiled code makes when the library loads ---- */
void **__cudaRegisterFatBinary(void *fatbin) { (void)fatbin; return (void **)HANDLE; }
