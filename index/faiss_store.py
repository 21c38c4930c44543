"""The FAISS vector store: a named set of vectors in this process, external int64 ids, searched by inner product.

Up to `exact_max_mb` of vectors the search is exact (`IndexFlatIP` inside `IndexIDMap2`): on unit
vectors the inner product is the cosine. Beyond, the collection moves to an approximate
index (index/approximate.py says which and why), tuned to a recall target; it is rebuilt in a
background thread, and searches and writes go on against the old index meanwhile: writes made
during the rebuild are replayed onto the new one before it takes over. Removal works in every
kind. Where faiss-gpu sees a GPU (index/gpu.py decides, once), exact searches run on a GPU copy
of the flat storage; the CPU index stays the truth for ids, removal and reconstruction, and the
copy is rebuilt from it after a removal (FAISS's GPU flat index has no id map). The collection
is derived data: its owner rebuilds it from the system of record on start.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import faiss
import numpy as np

from .approximate import EXACT, IndexPlan, new_index, over_budget, plan_index, set_nprobe, stored_ids, train, tune_nprobe, tuning_sample
from .checks import check_ids, check_k, check_vectors, id_array
from .errors import VectorError
from .gpu import GpuFlat, gpu_count
from .settings import IndexSettings
from .store import Hits

log = logging.getLogger("facegrid.index")
ADD_CHUNK = 1 << 18  # vectors added to an index at a time (bounds FAISS's temporary memory)
_SCAN_QUERIES = 4  # up to this many queries, scan with BLAS instead of FAISS's per-query loop


@dataclass(frozen=True)
class IndexState:
    """What a collection's index is now: its plan, and for an approximate one its tuning."""

    plan: IndexPlan
    nprobe: int = 0
    tuned_recall: float = 1.0  # recall@10 measured against exact search on the collection's own vectors
    rebuilding: bool = False


class FaissStore:  # implements index.store.VectorStore
    """Vectors of one dimension under int64 ids, searched by inner product (exactly, until they are many)."""

    def __init__(self, name: str, dim: int, settings: IndexSettings = IndexSettings()) -> None:
        if dim <= 0:
            raise VectorError(f"dimension must be positive, got {dim}")
        self.name = name
        self.dim = dim
        self._settings = settings
        self._lock = threading.RLock()  # FAISS indexes are not safe for concurrent writes
        self._use_gpu = gpu_count(settings) > 0
        self._install(new_index(IndexPlan(EXACT, 0), dim), IndexPlan(EXACT, 0))
        self._journal: list[tuple[str, np.ndarray, np.ndarray | None]] | None = None  # writes during a rebuild
        self._generation = 0  # +1 per replace / clear: a rebuild of older contents is thrown away
        self._rebuild_thread: threading.Thread | None = None

    def _install(self, index, plan: IndexPlan, nprobe: int = 0, recall: float = 1.0) -> None:
        """Make an index the live one (lock held, or before anyone else sees the collection)."""
        self._index, self._plan, self._nprobe, self._recall = index, plan, nprobe, recall
        if plan.approximate:
            set_nprobe(index, nprobe)  # once: every search of this index scans that many lists
        self._flat = faiss.downcast_index(index.index) if plan.kind == EXACT else None
        self._ids: np.ndarray | None = None  # position -> id of the exact index, cached between writes
        self._gpu = GpuFlat(self._flat) if self._flat is not None and self._use_gpu else None

    @property
    def on_gpu(self) -> bool:
        """Whether searches run on a GPU copy of the vectors."""
        return self._gpu is not None

    def state(self) -> IndexState:
        """The index in use, and whether a rebuild is under way."""
        with self._lock:
            return IndexState(self._plan, self._nprobe, self._recall, self._journal is not None)

    def describe(self) -> str:
        """How the vectors are searched now, in a line (Stats shows it)."""
        state = self.state()
        words = state.plan.describe()
        if state.plan.approximate:
            words += f" nprobe {state.nprobe} recall@10 {state.tuned_recall:.3f}"
        return words + (" (rebuilding)" if state.rebuilding else "")

    # --- writes ------------------------------------------------------------------------------

    def add(self, ids, vectors: np.ndarray) -> None:
        """Add vectors under ids; an id already present is replaced."""
        vectors = check_vectors(vectors, self.dim)
        ids = check_ids(ids, len(vectors))
        with self._lock:
            replaced = self._index.remove_ids(ids)
            self._index.add_with_ids(vectors, ids)
            self._ids = None
            if self._journal is not None:
                self._journal.append(("add", ids, vectors))
            if self._gpu is not None:
                # Only a pure append keeps the positions the GPU copy holds.
                self._gpu.appended(vectors) if replaced == 0 else self._gpu.changed()
            self._rebuild_if_outgrown()

    def remove(self, ids) -> int:
        """Remove ids (absent ones are ignored); how many were removed."""
        ids = id_array(ids)
        with self._lock:
            self._ids = None
            removed = int(self._index.remove_ids(ids))
            if self._journal is not None:
                self._journal.append(("remove", ids, None))
            if removed and self._gpu is not None:
                self._gpu.changed()  # removal compacts the flat storage: positions shift
            self._rebuild_if_outgrown()
            return removed

    def take_unsynced(self) -> set[int] | None:
        """Ids whose last write failed for an outage of the engine: none in this process's own index."""
        return set()

    def mark_unsynced(self, ids: set[int] | None) -> None:
        """Nothing to keep: a write here either happened or raised to its caller."""

    def clear(self) -> None:
        """Remove everything."""
        self.replace(np.zeros(0, np.int64), np.zeros((0, self.dim), np.float32))

    def compact(self) -> None:
        """Nothing to do: removed vectors are gone from memory, and nothing is written to disk."""

    def replace(self, ids, vectors: np.ndarray) -> None:
        """Replace everything at once (a rebuild): a search sees the old contents or the new, never half.

        The new index is built outside the lock (an approximate one trains first), so searches go on
        against the old contents meanwhile; writes made during the build are replayed onto it.
        """
        vectors = check_vectors(vectors, self.dim)
        ids = check_ids(ids, len(vectors))
        plan = plan_index(len(ids), self.dim, self._settings.approximate)
        with self._lock:
            self._generation += 1
            generation = self._generation
            self._journal = []
        built = self._build(plan, ids, vectors)
        with self._lock:
            if self._generation == generation:
                self._take_over(built)

    # --- approximate indexes, built in the background ------------------------------------------

    def _rebuild_if_outgrown(self) -> None:
        """Start a background rebuild when the size has left the current plan's range (lock held)."""
        n = self._index.ntotal
        settings = self._settings.approximate
        plan = self._plan
        if plan.kind == EXACT:
            outgrown = n > settings.exact_max(self.dim)
        else:  # lists sized for a quarter or four times as many vectors, or few enough for exact search again
            outgrown = n > 4 * max(plan.size, 1) or n * 4 < plan.size or n <= settings.exact_max(self.dim) // 2
        if outgrown and self._journal is None:
            self._journal = []
            thread = threading.Thread(target=self._rebuild, args=(self._generation,), name=f"rebuild {self.name}", daemon=True)
            self._rebuild_thread = thread
            thread.start()

    def _rebuild(self, generation: int) -> None:
        """Build the index the current size calls for from a snapshot, then take over (a thread)."""
        try:
            with self._lock:
                ids, vectors = self._snapshot()
            plan = plan_index(len(ids), self.dim, self._settings.approximate)
            built = self._build(plan, ids, vectors)
            with self._lock:
                if self._generation == generation:
                    self._take_over(built)
        except Exception:  # a failed rebuild leaves the old index serving; the next write tries again
            log.exception("rebuilding collection %s failed; the current index keeps serving", self.name)
            with self._lock:
                if self._generation == generation:
                    self._journal = None

    def _snapshot(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) as stored (lock held); an approximate index gives its codes' reconstructions."""
        if self._plan.kind == EXACT:
            return self.items()
        ids = stored_ids(self._index)
        return ids, self._index.reconstruct_batch(ids) if len(ids) else np.zeros((0, self.dim), np.float32)

    def _build(self, plan: IndexPlan, ids: np.ndarray, vectors: np.ndarray) -> tuple:
        """A new index of the plan holding these vectors, trained and tuned (no lock held)."""
        started = time.monotonic()
        index = new_index(plan, self.dim)
        nprobe, recall = 0, 1.0
        if plan.approximate:
            train(index, plan, vectors)
        for start in range(0, len(ids), ADD_CHUNK):
            index.add_with_ids(vectors[start:start + ADD_CHUNK], ids[start:start + ADD_CHUNK])
        if plan.approximate:
            target = self._settings.approximate.recall_target
            nprobe, recall = tune_nprobe(index, tuning_sample(ids, vectors), target)
            if over_budget(plan, self.dim, self._settings.approximate) or recall < target:
                log.warning("collection %s: %s for %d vectors reaches recall@10 %.3f (target %.2f) in %.1f GiB "
                            "(budget %.1f): one machine is too small for it; see docs/scaling.md", self.name, plan.describe(),
                            len(ids), recall, target, len(ids) * plan.bytes_per_vector(self.dim) / 2**30,
                            self._settings.approximate.memory_gib)
            log.info("collection %s: %s for %d vectors, nprobe %d, recall@10 %.3f, built in %.1f s", self.name,
                     plan.describe(), len(ids), nprobe, recall, time.monotonic() - started)
        return index, plan, nprobe, recall

    def _take_over(self, built: tuple) -> None:
        """Replay the writes made during the build onto the new index and make it live (lock held)."""
        index = built[0]
        for kind, ids, vectors in self._journal or []:
            index.remove_ids(ids)
            if kind == "add":
                index.add_with_ids(vectors, ids)
        self._journal = None
        self._install(*built)
        self._rebuild_if_outgrown()  # writes during the build may already have outgrown it

    def wait_rebuilt(self, timeout: float | None = None) -> bool:
        """Wait for a background rebuild to finish; whether none is running now."""
        thread = self._rebuild_thread
        if thread is not None:
            thread.join(timeout)
        return self.state().rebuilding is False

    # --- reads -------------------------------------------------------------------------------

    def search(self, queries: np.ndarray, k: int) -> Hits:
        """The k best-scoring vectors for each query: exactly, or within the approximate index's recall."""
        queries = check_vectors(queries, self.dim)
        k = check_k(k)
        with self._lock:
            n = self._index.ntotal
            k = min(k, max(n, 1))
            if self._plan.approximate:
                scores, ids = self._index.search(queries, k)
                return Hits(scores=scores.astype(np.float32), ids=ids.astype(np.int64))
            if n > 0 and self._gpu is not None:
                scores, positions = self._gpu.search(queries, k)
                ids = np.where(positions >= 0, self._position_ids()[np.maximum(positions, 0)], -1)
                return Hits(scores=scores, ids=ids)
            if n > 0 and len(queries) <= _SCAN_QUERIES:
                return self._scan(queries, k)
            scores, ids = self._index.search(queries, k)
        return Hits(scores=scores, ids=ids)

    def _position_ids(self) -> np.ndarray:
        """Storage position -> id of the exact index, cached until the next write."""
        if self._ids is None:
            self._ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)
        return self._ids

    def _scan(self, queries: np.ndarray, k: int) -> Hits:
        """Few queries: one BLAS matrix-vector product over FAISS's own storage (no copy).

        FAISS parallelises exact search over queries, so a single query runs on one
        core; this scan is memory-bound and uses them all (1M x 128: 2x faster here).
        """
        n = self._flat.ntotal
        stored = faiss.rev_swig_ptr(self._flat.get_xb(), n * self.dim).reshape(n, self.dim)
        position_ids = self._position_ids()
        scores = queries @ stored.T
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < n else np.tile(np.arange(n), (len(queries), 1))
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        return Hits(scores=np.take_along_axis(top_scores, order, axis=1).astype(np.float32),
                    ids=position_ids[np.take_along_axis(top, order, axis=1)])

    def vector(self, id_: int) -> np.ndarray | None:
        """The stored vector under an id (an approximate index's reconstruction of it), or None."""
        with self._lock:
            try:
                return self._index.reconstruct(int(id_))
            except RuntimeError:  # FAISS raises for an unknown id
                return None

    def __contains__(self, id_: int) -> bool:
        """Whether a vector is stored under the id."""
        return self.vector(id_) is not None

    def count(self) -> int:
        """How many vectors are stored."""
        return int(self._index.ntotal)

    def ids(self) -> np.ndarray:
        """All stored ids."""
        with self._lock:
            return stored_ids(self._index)

    def items(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of everything stored, as copies (an approximate index: reconstructions)."""
        with self._lock:
            if self._plan.approximate:
                return self._snapshot()
            n = self._flat.ntotal
            stored = faiss.rev_swig_ptr(self._flat.get_xb(), n * self.dim).reshape(n, self.dim).copy() if n else np.zeros((0, self.dim), np.float32)
            return faiss.vector_to_array(self._index.id_map).astype(np.int64), stored
