"""Build of the onnxlosses kernels: Cython sources in pyx/, compiled with -O3 and OpenMP.

-fno-trapping-math and -fno-math-errno let gcc if-convert and vectorise the loss loops (it
will not speculate a division that might trap, nor vectorise a call that sets errno); they
change no result: NaN and inf behave exactly as without them, unlike -ffast-math.
-ffp-contract=off keeps a*b + c two roundings everywhere but where the kernel headers ask
for fused multiply-adds (ONNXL_CONTRACT, kernel_common.h), so that no result depends on which target clone
runs or on how a call site was inlined.

If the compiler cannot build an OpenMP program the extension is built without it (serial,
same results) and the build says so.  No -ffast-math (it breaks NaN and inf) and no
-march=native (wheels must run on any x86-64): the exponential is vectorised through
`omp declare simd` + target_clones in pyx/softmax_loops.h instead.  ONNXLOSSES_DEBUG=1
turns Cython's bounds and wraparound checks back on.

ONNXLOSSES_SANITIZE=1 builds the same code (same -O3, same clones) with AddressSanitizer and
UndefinedBehaviorSanitizer (-fsanitize=address,undefined plus float-cast-overflow, which
-fsanitize=undefined leaves out and which catches an out-of-range float -> int conversion),
-fno-sanitize-recover=all so that every report aborts the process (pytest's capture would
hide a report that lets the run go on), and -fno-omit-frame-pointer -g for readable stacks.
`make sanitize` builds it into build/sanitize (never over the normal in-place build) and runs
the test suite under it; see the Makefile.
"""
import glob
import os
import subprocess
import sys
import sysconfig
import tempfile

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

KERNELS = ["_boundary", "_cross_entropy", "_dice", "_dice_scores", "_elementwise",
           "_index_targets", "_math_check", "_openmp", "_roofline"]


def _compiler_accepts(flags):
    """True when the C compiler builds and links a tiny OpenMP program with `flags`."""
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    src = "#include <omp.h>\nint main(void){int n=0;\n#pragma omp parallel\n n=omp_get_num_threads();\nreturn n<1;}\n"
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "probe.c")
        with open(path, "w") as fh:
            fh.write(src)
        cmd = cc.split() + [path, "-o", os.path.join(tmp, "probe")] + flags
        return subprocess.call(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) == 0


def _openmp_flags():
    if os.environ.get("ONNXLOSSES_NO_OPENMP"):
        return None
    for flags in (["-fopenmp"], ["-Xpreprocessor", "-fopenmp", "-lomp"]):
        if _compiler_accepts(flags):
            return flags
    return None


omp = _openmp_flags()
if omp is None:
    print("onnxlosses: building WITHOUT OpenMP: the kernels will run on one thread",
          file=sys.stderr)
    compile_args, link_args = ["-O3", "-fopenmp-simd"], []
else:
    compile_args, link_args = ["-O3"] + omp, [a for a in omp if a != "-Xpreprocessor"]
compile_args += ["-fno-trapping-math", "-fno-math-errno", "-ffp-contract=off"]
if os.environ.get("ONNXLOSSES_SANITIZE"):
    sanitizers = ["-fsanitize=address,undefined,float-cast-overflow", "-fno-sanitize-recover=all"]
    compile_args += sanitizers + ["-fno-omit-frame-pointer", "-g"]
    link_args += sanitizers

debug = bool(os.environ.get("ONNXLOSSES_DEBUG"))
directives = {"language_level": 3, "boundscheck": debug, "wraparound": debug}

extensions = [
    Extension(
        f"onnxlosses.{name}",
        [f"pyx/{name}.pyx"],
        include_dirs=["pyx", np.get_include()],
        depends=sorted(glob.glob("pyx/*.h")),   # a header edit rebuilds the modules
        extra_compile_args=compile_args,
        extra_link_args=link_args,
        libraries=["m"] if sys.platform != "win32" else [],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )
    for name in KERNELS
]

setup(ext_modules=cythonize(extensions, include_path=["pyx"], compiler_directives=directives))
