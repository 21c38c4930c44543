"""FAISS on the GPU where faiss-gpu sees one, on the CPU otherwise: the one place that decides.

`gpu_count(settings)` is the single check (`faiss.get_num_gpus()`, as FAISS's contrib does);
callers keep one code path and only the index object differs. faiss-cpu reports 0 GPUs, so a
CPU install never reaches the GPU branch.

FAISS GPU indexes are not thread-safe, even for searches: a `StandardGpuResources` holds one
region of temporary GPU memory with a single user at a time (FAISS wiki, "Threads and
asynchronous calls"). One resources object serves every collection of the process (each one
reserves GPU memory), and `GPU_LOCK` serialises the calls that use it.
"""

from __future__ import annotations

import functools
import threading

try:
    import faiss
except ImportError as error:  # neither faiss-cpu nor faiss-gpu-cu12
    raise ImportError(
        "FAISS is not installed. Install facegrid with exactly one runtime: "
        "pip install 'facegrid[cpu]' (any machine) or pip install 'facegrid[gpu]' (NVIDIA GPU)"
    ) from error

import numpy as np

from .settings import IndexSettings

GPU_LOCK = threading.Lock()  # every use of the shared GPU resources
GPU_DEVICE = 0  # the first GPU: collections are small next to a GPU's memory


def gpu_count(settings: IndexSettings = IndexSettings()) -> int:
    """GPUs FAISS may use here: 0 with faiss-cpu, without a GPU, or when the settings turn it off."""
    return faiss.get_num_gpus() if settings.gpu else 0


@functools.cache
def _resources():
    return faiss.StandardGpuResources()


class GpuFlat:
    """A GPU copy of a CPU flat index, searched exactly in its place; positions stay the CPU index's.

    The CPU index stays the truth (ids, reconstruct, removal). The copy follows appends as they
    happen; a removal shifts positions, so the copy is dropped and rebuilt from the CPU index at
    the next search. The caller holds its own write lock around both.
    """

    def __init__(self, flat: faiss.IndexFlat) -> None:
        self._flat = flat
        self._copy = None  # built on first search

    def appended(self, vectors: np.ndarray) -> None:
        """The CPU index has these vectors appended at its end."""
        if self._copy is None:
            return
        with GPU_LOCK:
            self._copy.add(vectors)
        if self._copy.ntotal != self._flat.ntotal:  # out of step: rebuild rather than search wrong positions
            self._copy = None

    def changed(self) -> None:
        """The CPU index lost or reordered vectors: rebuild the copy before the next search."""
        self._copy = None

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, positions) of the k best vectors per query, exactly, on the GPU."""
        with GPU_LOCK:
            if self._copy is None:
                self._copy = faiss.index_cpu_to_gpu(_resources(), GPU_DEVICE, self._flat)
            return self._copy.search(queries, k)
