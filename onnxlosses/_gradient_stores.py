"""How the kernels store a gradient: built tile by tile in per-thread scratch, then streamed
to the destination with non-temporal stores when it is far larger than any cache and the
CPU has AVX-512 (pyx/stream_store.h says why, with the measurements)."""
from . import _openmp

# Gradients at least this large are streamed.  Far above the caches of the machines this
# was measured on: a smaller gradient is left in cache for whatever reads it next.
STREAM_MIN_BYTES = 64 << 20


def stream_gradient(grad):
    """Whether the kernels stream `grad` (an array, or None for no gradient)."""
    return grad is not None and grad.nbytes >= STREAM_MIN_BYTES and _openmp.stream_available


def describe():
    """One line for show_config."""
    if not _openmp.stream_available:
        return "plain stores (streaming stores need AVX-512)"
    return f"streaming (non-temporal) stores for gradients >= {STREAM_MIN_BYTES >> 20} MiB"
