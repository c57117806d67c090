/* Infrastructure every kernel header shares: which vector math the loops may call, how they
 * are compiled (target clones, floating-point contraction, `omp simd`), the ISA report, and
 * how loops written once for several element types are named.
 *
 * Loops written once per element type live in *_typed.h files: each is included once per
 * type by its header, with T (the type) and SFX (the suffix of the function names: f32,
 * f64, u8, ...) defined around the #include; inside, ONNXL_FN(name) names name_SFX.  Plain
 * C, so compiler and sanitizer messages point at real lines (a macro body is one line).
 *
 * The softmax's float exponential is our own (exp_nonpositive.h), and so are focal's double
 * expm1 (expm1_nonpositive.h) and the elementwise losses' log1p (log1p_unit.h,
 * log1p_f64.h): inline arithmetic that vectorises everywhere.  The other transcendental
 * calls (double exp and log, logf, pow, powf) go to glibc's vector library, libmvec, which
 * has had them since glibc 2.22; the functions it added later (expm1, log1p in 2.35) are
 * ours, so that the extensions need no glibc newer than 2.34.  glibc only attaches libmvec
 * under -ffast-math, which we do not use (it breaks NaN and inf), so we declare `omp
 * declare simd` on them ourselves and build with -fopenmp(-simd); gcc then calls
 * _ZGVdN4v_exp & co. inside `omp simd` loops.
 * target_clones compiles every loop for AVX-512, x86-64-v3 (AVX2 + FMA) and the x86-64
 * baseline, and the loader picks one.  Elsewhere (musl, macOS, non-x86) the same loops call
 * scalar libm: slower, equally correct.
 */
#ifndef ONNXLOSSES_KERNEL_COMMON_H
#define ONNXLOSSES_KERNEL_COMMON_H
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GLIBC__) && defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#pragma omp declare simd notinbranch
extern float expf(float);
#pragma omp declare simd notinbranch
extern double exp(double);
#pragma omp declare simd notinbranch
extern double log(double);
#pragma omp declare simd notinbranch
extern float logf(float);
#pragma omp declare simd notinbranch
extern float powf(float, float);
#pragma omp declare simd notinbranch
extern double pow(double, double);
#endif
/* The loops are static and every module includes the whole header but calls only some of
 * them: the others are dropped, as they should be, and not worth a warning (-Wall stays
 * quiet, so a new warning shows). */
#if defined(__GNUC__)
#define ONNXL_MAYBE_UNUSED __attribute__((unused))
#else
#define ONNXL_MAYBE_UNUSED
#endif
#if defined(__GLIBC__) && defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ONNXL_CLONES ONNXL_MAYBE_UNUSED \
    __attribute__((target_clones("avx512f", "arch=x86-64-v3", "default")))
#define ONNXL_VECTOR_EXP 1
#else
#define ONNXL_CLONES ONNXL_MAYBE_UNUSED
#define ONNXL_VECTOR_EXP 0
#endif
/* The build turns floating-point contraction off (setup.py): whether a*b + c becomes one
 * fused multiply-add would otherwise depend on the clone and on how gcc inlined each call
 * site, and the forward and value-and-gradient paths could round one term differently.
 * The softmax's exponential is the exception: it is the same code on both paths, and FMA
 * is where its speed comes from (1.6 -> 2.4 G exp/s here). */
#if defined(__GNUC__) && !defined(__clang__)
#define ONNXL_CONTRACT __attribute__((optimize("fp-contract=fast")))
#else
#define ONNXL_CONTRACT
#endif

/* A read prefetch, for loops whose next address the hardware cannot guess (a gather of one
 * entry per row of a wide matrix).  Never faults, whatever the address. */
static inline void onnxl_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }

/* Which of the target clones the loader picks on this CPU (reported by show_config). */
static inline const char *onnxl_isa(void) {
#if defined(__GLIBC__) && defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return "avx512f";
    if (__builtin_cpu_supports("x86-64-v3")) return "x86-64-v3 (AVX2, FMA)";
    return "default (x86-64 baseline)";
#else
    return "portable (no target clones on this platform)";
#endif
}

#define ONNXL_SIMD _Pragma("omp simd")
#ifndef ONNXL_INLINE
#define ONNXL_INLINE static inline __attribute__((always_inline))
#endif
/* Loops that mix bytes, integers, floats and doubles and also sum a double: gcc (12)
 * vectorises them but adds the sum lane by lane in order, a 4-cycle chain per element,
 * whatever `omp simd reduction` allows.  Such loops write their terms to a buffer of
 * ONNXL_CHUNK and sum it in a plain loop of its own, which vectorises (fixed lane order). */
#define ONNXL_CHUNK 256

#define ONNXL_PASTE_(a, b) a##_##b
#define ONNXL_PASTE(a, b) ONNXL_PASTE_(a, b)
#define ONNXL_FN(name) ONNXL_PASTE(name, SFX)

/* r^n for a whole n in [1, 8], multiplied out left to right.  A fixed-length loop of
 * selects: gcc does not vectorise an `omp simd` loop holding an inner loop whose trip
 * count is a variable (it left the focal losses' power loops scalar).  Callers give
 * n == 2, the usual gamma, a loop of its own. */
#define ONNXL_DEFINE_POWI(T, SFX)                                                               \
ONNXL_INLINE T onnxl_powi_##SFX(T r, int n) {                                                \
    T f = r;                                                                                 \
    for (int k = 2; k <= 8; k++) f = k <= n ? f * r : f;                                     \
    return f;                                                                                \
}
ONNXL_DEFINE_POWI(float, f32)
ONNXL_DEFINE_POWI(double, f64)

#endif
