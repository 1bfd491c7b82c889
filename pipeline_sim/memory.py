"""How the process uses memory: settings of numpy's and the C library's allocators that the runs
depend on for their speed and peak memory (they change no result)."""

from __future__ import annotations

import os


def small_pages() -> None:
    """Stop numpy from asking the kernel for transparent huge pages for large arrays, unless the
    user chose with NUMPY_MADVISE_HUGEPAGE.

    The yearly phases allocate many short-lived arrays the size of the cadre table. On Linux with
    huge pages "on request" (the common default), each first touch of such memory may compact
    memory to find a 2 MB page: measured on the national run, the process then spends 1.6 s in the
    kernel instead of 0.9 s, for no gain in user time (README, Performance). The setting is
    numpy's, for the whole process; results are unchanged.
    """
    if "NUMPY_MADVISE_HUGEPAGE" in os.environ:
        return
    try:
        from numpy._core.multiarray import _set_madvise_hugepage
    except ImportError:  # numpy < 2
        try:
            from numpy.core.multiarray import _set_madvise_hugepage
        except ImportError:
            return
    _set_madvise_hugepage(False)


def release_free_memory() -> None:
    """Give the memory a finished replication freed back to the system (glibc's malloc_trim), so
    that the next one starts from the live data only instead of from the heap's high-water mark.
    Elsewhere (or without glibc) it does nothing."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass
