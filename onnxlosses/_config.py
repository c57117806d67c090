"""show_config(): what this build of onnxlosses is and how it will run here."""
import platform
import sysconfig

import numpy as np

from . import _gradient_stores, _openmp
from ._threads import get_num_threads


def build_info():
    """The facts show_config prints, as a dict (also recorded by the benchmarks)."""
    return {
        "onnxlosses": __import__("onnxlosses").__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "compiler": sysconfig.get_config_var("CC") or "unknown",
        "openmp": _openmp.openmp_enabled,
        "omp_max_threads": _openmp.max_threads(),
        "threads": get_num_threads(),
        "vector_exp": "own inline expf (softmax, softplus), log1p and expm1; libmvec "
        "(glibc 2.22) for double exp and log, logf, pow (AVX-512 / x86-64-v3 / baseline "
        "clones, chosen at load)"
        if _openmp.vector_exp else "own inline expf (softmax, softplus), log1p and expm1; "
        "scalar libm for the rest",
        "kernel_isa": _openmp.isa,
        "gradient_stores": _gradient_stores.describe(),
        "machine": platform.machine(),
    }


def show_config():
    """Print the build: compiler, OpenMP on/off, threads, how the exponential is vectorised."""
    for key, value in build_info().items():
        print(f"{key:>16}: {value}")
