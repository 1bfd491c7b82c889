"""How the process uses memory: settings of numpy's and the C library's allocators that the runs
depend on for their speed and peak memory (they change no result)."""

from __future__ import annotations

import functools
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


#: glibc's mallopt parameters, and the size below which freed memory is kept for reuse
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
HEAP_REUSE_BYTES = 32 * 2**20
#: environment variables by which the user sets glibc's allocator (then left as set)
_MALLOC_ENV = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")
_heap_set: bool | None = None


def reuse_freed_memory() -> bool:
    """Let glibc's allocator keep freed arrays of up to 32 MB for reuse, unless the user set it
    (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_, MALLOC_TOP_PAD_, MALLOC_MMAP_MAX_ or any
    glibc.malloc tunable in GLIBC_TUNABLES; a program that embeds pipeline_sim and sets these with
    mallopt itself should set one of them, e.g. GLIBC_TUNABLES=glibc.malloc.check=0). Returns
    whether both settings were made; once per process.

    The yearly phases make and drop many arrays the size of the cadre table (8 MB at national
    scale). glibc's defaults map each one afresh until its threshold has adapted, and hand freed
    memory at the top of the heap back to the kernel beyond a small margin, so the next year's
    arrays are faulted in again, page by page: about 1.7 s of the 30-year national run in the
    kernel. With both thresholds at 32 MB (the largest the adaptive one reaches by itself) arrays
    of up to that size come from the heap and up to 32 MB of free heap is kept: 0.8 s, with the
    same peak memory (README, Performance). Only the allocator's bookkeeping changes, never a
    result; finished replications still hand memory back (`release_free_memory`).
    """
    global _heap_set
    if _heap_set is not None:
        return _heap_set
    _heap_set = False
    if any(k in os.environ for k in _MALLOC_ENV) or "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    libc = _libc()
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None or not _is_glibc(libc):
        return False
    _heap_set = bool(mallopt(_M_MMAP_THRESHOLD, HEAP_REUSE_BYTES) == 1) and bool(
        mallopt(_M_TRIM_THRESHOLD, HEAP_REUSE_BYTES) == 1
    )
    return _heap_set


@functools.cache
def _libc():
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def _is_glibc(libc) -> bool:
    return getattr(libc, "gnu_get_libc_version", None) is not None


def release_free_memory() -> None:
    """Give the memory a finished replication freed back to the system (glibc's malloc_trim), so
    that the next one starts from the live data only instead of from the heap's high-water mark.
    Elsewhere (or without glibc) it does nothing."""
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is not None:
        trim(0)
