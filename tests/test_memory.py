"""Replications in constant memory: a finished model is freed at once, without a garbage collection."""

from __future__ import annotations

import gc
import os
import platform
import subprocess
import sys
import tracemalloc
import weakref

import pytest

from pipeline_sim import PipelineModel, run

SMALL = {"name": "small", "simulation": {"years": 3}, "hierarchy": {"preset": "teaching"}}


def test_a_closed_model_is_freed_without_a_garbage_collection():
    gc.collect()
    gc.disable()
    try:
        model = PipelineModel(SMALL, seed=1)
        model.run()
        assert model.unit_agents  # Mesa agents point back to the model
        model.cadre(int(model.cadres.uid[0]))
        frame = model.metrics_frame()
        model.close()
        assert model.metrics_frame().equals(frame), "results stay readable after close()"
        ref = weakref.ref(model)
        del model
        assert ref() is None, "a reference cycle keeps the finished model alive"
    finally:
        gc.enable()


def test_several_replications_do_not_grow_memory():
    """With the garbage collector off (as between its rare full passes), the peak of four
    replications stays near the peak of one: nothing of a finished replication is kept."""
    run(SMALL, reps=1, seed=1)  # imports and caches first
    gc.collect()
    gc.disable()
    tracemalloc.start()
    try:
        peaks, results, left = {}, {}, {}
        for reps in (1, 4):
            tracemalloc.reset_peak()
            start = tracemalloc.get_traced_memory()[0]
            result = run(SMALL, reps=reps, seed=1)
            peaks[reps] = tracemalloc.get_traced_memory()[1] - start
            results[reps] = tracemalloc.get_traced_memory()[0] - start  # the results returned
            assert len(result.seeds) == reps
            del result
            left[reps] = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
        gc.enable()
    # nothing of the replications stays once their results are dropped (a model kept alive by a
    # reference cycle stays until a full collection, about its own peak each), and the peak grows
    # by the results of the extra replications only (loose bounds)
    assert left[4] < 0.1 * peaks[1], (peaks, left)
    assert peaks[4] - peaks[1] < results[4] - results[1] + 0.25 * peaks[1], (peaks, results)


@pytest.mark.parametrize("env, advised", [(None, "False"), ("1", "True")])
def test_numpy_huge_page_advice_is_off_unless_the_user_chose(env, advised):
    code = (
        "try:\n"
        "    from numpy._core.multiarray import _get_madvise_hugepage\n"
        "except ImportError:\n"
        "    from numpy.core.multiarray import _get_madvise_hugepage\n"
        "from pipeline_sim import PipelineModel\n"
        "PipelineModel({'hierarchy': {'preset': 'teaching'}}, seed=1, years=1)\n"
        "print(_get_madvise_hugepage())\n"
    )
    environ = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    if env is not None:
        environ["NUMPY_MADVISE_HUGEPAGE"] = env
    out = subprocess.run(
        [sys.executable, "-c", code], env=environ, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == advised


_HEAP_PROBE = """
import numpy as np
from pipeline_sim import PipelineModel
from pipeline_sim.memory import reuse_freed_memory
PipelineModel({'hierarchy': {'preset': 'teaching'}}, seed=1, years=1)
a = np.empty(20 * 2**20 // 8)  # 20 MB, below the 32 MB threshold
a[:] = 1.0
at = a.ctypes.data
for line in open('/proc/self/maps'):
    if line.rstrip().endswith('[heap]'):
        lo, hi = (int(x, 16) for x in line.split()[0].split('-'))
        break
print(reuse_freed_memory(), lo <= at < hi)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's allocator only")
@pytest.mark.parametrize("user_setting, in_heap", [(None, "True True"), ("131072", "False False")])
def test_freed_arrays_are_reused_from_the_heap_unless_the_user_set_the_allocator(user_setting, in_heap):
    """A model sets glibc's thresholds so that arrays of up to 32 MB come from the heap (where freed
    ones are reused without new page faults) instead of fresh mappings; a user's own MALLOC_*_
    setting is left alone (a 20 MB array is then mapped afresh, as by glibc's default)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    if user_setting is not None:
        environ["MALLOC_TOP_PAD_"] = user_setting
    out = subprocess.run(
        [sys.executable, "-c", _HEAP_PROBE], env=environ, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == in_heap
