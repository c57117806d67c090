"""Thread control for every kernel: one setting instead of a num_threads keyword everywhere.

The process-wide default is OpenMP's own (OMP_NUM_THREADS when set, else the cores OpenMP
sees).  `threads(n)` overrides it for the calling Python thread only, so concurrent callers
with different settings do not step on each other.  Results never depend on the setting:
kernels reduce in fixed tiles combined in a fixed order.
"""
import contextlib
import operator
import threading

from . import _openmp

_default = [None]
_chosen = [False]      # set_num_threads was called (not just OpenMP's default read)


class _Local(threading.local):
    n = None           # no threads(n) on this Python thread: a class default, as looking up
                       # a missing attribute costs an exception on every kernel call


_local = _Local()


def _checked(n):
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"n must be an integer, got {type(n).__name__}") from None
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    return n


def get_num_threads():
    """Number of threads the next kernel call on this Python thread will use."""
    n = _local.n
    if n is not None:
        return n
    if _default[0] is None:
        _default[0] = max(1, _openmp.max_threads())
    return _default[0]


def set_num_threads(n):
    """Set the process-wide number of kernel threads (n >= 1)."""
    _default[0] = _checked(n)
    _chosen[0] = True


def chosen_num_threads():
    """The thread count set by `threads(n)` on this Python thread or by set_num_threads,
    or None when neither was used (a front end may then follow its host framework's
    setting, as onnxlosses.torch follows torch.get_num_threads())."""
    n = _local.n
    if n is not None:
        return n
    return _default[0] if _chosen[0] else None


@contextlib.contextmanager
def threads(n):
    """Context manager: kernels called inside it on this Python thread use `n` threads.

    >>> import onnxlosses
    >>> with onnxlosses.threads(1):
    ...     onnxlosses.get_num_threads()
    1
    """
    n = _checked(n)
    previous = _local.n
    _local.n = n
    try:
        yield n
    finally:
        _local.n = previous
