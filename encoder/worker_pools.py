"""Worker-process pools by key (a model name), each replaced when one of its processes dies.

A ProcessPoolExecutor whose process dies (killed for memory, or a native decoder crash) is broken
for good: every later submit raises BrokenProcessPool. Here the broken pool is dropped and the next
submit starts a new one, so one bad photo or one OOM kill costs the work that was in flight, not
every later stream until a restart. `BulkWorkers` is bulk indexing's embedding on such pools (encoder/ports.py's
BulkEncoder, as the index role's server/remote/bulk.py is on encoder servers).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Callable

import numpy as np

from .errors import WorkerDied
from .image import DecodeLimits
from .pipeline import embed_photos, photo_vectors_of, worker_pool
from .runtime import EncoderSettings

log = logging.getLogger("facegrid.encoder")

WORKER_DIED = ("an embedding worker process died (out of memory, or a decoder crash) with this photo in flight; "
               "send it again (if it fails each time, the photo itself is at fault)")


class WorkerPools:
    """Pools made on first use by `make(key)`, kept, and replaced when broken."""

    def __init__(self, make: Callable[[str], ProcessPoolExecutor]) -> None:
        self._make = make
        self._pools: dict[str, ProcessPoolExecutor] = {}
        self._lock = threading.Lock()
        self.replaced = 0  # pools replaced since start

    def _pool(self, key: str) -> ProcessPoolExecutor:
        with self._lock:
            if key not in self._pools:
                self._pools[key] = self._make(key)
            return self._pools[key]

    def _replace(self, key: str, broken: ProcessPoolExecutor) -> None:
        """Drop a broken pool (once, however many of its futures report it); the next submit makes a new one."""
        with self._lock:
            if self._pools.get(key) is not broken:
                return
            del self._pools[key]
            self.replaced += 1
        log.warning("a %s worker process died; its pool is replaced (%d so far)", key, self.replaced)
        broken.shutdown(wait=False, cancel_futures=True)

    def submit(self, key: str, fn, *args) -> Future:
        """Run `fn(*args)` in one of the key's processes. Its future fails with BrokenProcessPool when the
        process dies meanwhile (see `result`); the pool is replaced at once either way."""
        pool = self._pool(key)
        try:
            future = pool.submit(fn, *args)
        except BrokenProcessPool:  # a process died while the pool was idle
            self._replace(key, pool)
            pool = self._pool(key)
            future = pool.submit(fn, *args)
        future.add_done_callback(lambda done: self._replace(key, pool) if _broke(done) else None)
        return future

    def close(self) -> None:
        """Stop every pool's processes."""
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.shutdown(cancel_futures=True)


def _broke(future: Future) -> bool:
    return not future.cancelled() and isinstance(future.exception(), BrokenProcessPool)


def result(future: Future):
    """A submitted future's result; WorkerDied where its process died."""
    try:
        return future.result()
    except BrokenProcessPool:
        raise WorkerDied(WORKER_DIED) from None


class BulkWorkers:
    """Bulk indexing's embedding in worker processes: per face model, one single-threaded pipeline per core, started on
    first use and kept. No GIL contention as cores are added, and the serving process stays free for calls and Redis
    (docs/benchmarks.md: 86 LFW photos/s on 2 cores with `sface`, 55 with `fused`)."""

    def __init__(self, detector: str, limits: DecodeLimits, workers: int, settings: EncoderSettings, nice: int = 0) -> None:
        self.workers = workers
        # `nice`: the workers run below the serving process, so gate calls keep their cores under bulk work
        self.pools = WorkerPools(lambda model: worker_pool(model, detector, limits, workers, settings, nice=nice))

    def embed_photos(self, model: str, photos: list[bytes], image_model: str = "") -> Future:
        """A future of each photo's PhotoEmbedding or error (WorkerDied for each when its process died meanwhile)."""
        return _deaths_as_errors(self.pools.submit(model, embed_photos, photos, image_model), len(photos))

    def photo_vectors(self, face_model: str, image_model: str, photos: list[bytes]) -> list[np.ndarray | Exception]:
        """Whole-photo vectors alone, in the face model's worker processes (the background re-embedding)."""
        return self.pools.submit(face_model, photo_vectors_of, photos, image_model).result()

    def close(self) -> None:
        """Stop the worker processes."""
        self.pools.close()


def _deaths_as_errors(future: Future, count: int) -> Future:
    """The future's results, or `count` WorkerDied errors where its process died: the photos say so, the next batch
    gets a new process."""
    answer: Future = Future()

    def settle(done: Future) -> None:
        try:
            answer.set_result(done.result())
        except BrokenProcessPool:
            answer.set_result([WorkerDied(WORKER_DIED) for _ in range(count)])
        except BaseException as error:  # noqa: BLE001 - cancelled at shutdown, or the task failed as a whole
            answer.set_exception(error)

    future.add_done_callback(settle)
    return answer
