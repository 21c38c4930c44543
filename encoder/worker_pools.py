"""Worker-process pools by key (a model name), each replaced when one of its processes dies.

A ProcessPoolExecutor whose process dies (killed for memory, or a native decoder crash) is broken
for good: every later submit raises BrokenProcessPool. Here the broken pool is dropped and the next
submit starts a new one, so one bad photo or one OOM kill costs the work that was in flight, not
every later stream until a restart.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Callable

from .errors import WorkerDied

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
