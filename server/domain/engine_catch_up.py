"""After Milvus was unreachable, what did not reach it is set again from Redis once it answers.

A write reaches Redis (the system of record) first and the vector engine second; while Milvus is
down the second step fails (the caller gets UNAVAILABLE, Redis keeps the write) and a retried call
may find its write already in Redis and go no further (a photo already indexed). Each Milvus store
keeps the ids whose write failed so (index/milvus_store.py); a few seconds after Milvus answers
again, the gate and the collections re-read exactly those from Redis and write them as Redis holds
them now: an enrollment is added, a subject forgotten meanwhile leaves Milvus. A store that lost
count (a long outage under bulk load) is refilled whole, as at start.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Callable, Iterator

from facegrid.index.errors import EngineError, EngineLost
from facegrid.index.store import VectorStore
from facegrid.index.stores import VectorStores

log = logging.getLogger("facegrid.server")


class EngineCatchUp:
    """A thread that catches up from Redis whenever Milvus was unreachable since the last look and answers now.

    `stores` opened every store the catch-up covers (their outages are counted there); `catch_up()` re-reads
    what missed Milvus and says how many vectors it set."""

    def __init__(self, stores: VectorStores, catch_up: Callable[[], int], interval_s: float = 2.0) -> None:
        self._stores = stores
        self._catch_up = catch_up
        self._interval = interval_s
        self._seen = stores.outages.count
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="milvus catch-up", daemon=True)
        self.catch_ups = 0  # catch-ups done (for tests and logs)

    def start(self) -> "EngineCatchUp":
        """Start the watching thread; returns self so it can be made and started in one line."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the watching thread and wait for it."""
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            count = self._stores.outages.count
            if count == self._seen:
                continue
            try:
                self._stores.check(timeout=2.0)
                started = time.perf_counter()
                done = self._catch_up()
            except EngineError as error:  # down still, or again: the next look tries once more
                log.info("Milvus catch-up waits: %s", error)
                continue
            except Exception:  # a bug must not end the thread; the next outage tries again
                log.exception("Milvus catch-up failed")
                continue
            self._seen = count
            self.catch_ups += 1
            log.info("Milvus at %s answers again: caught up from Redis, %d vectors set again (%.0f ms)", self._stores.where(),
                     done, (time.perf_counter() - started) * 1000)


def caught_up(store: VectorStore, refill: Callable[[], object], sync: Callable[[list[int]], None]) -> int:
    """One vector store after an outage of its engine (the caller holds its owner's write lock): sync(ids) with
    the ids whose write missed it, or refill() when it lost count of them or its collection is gone from the
    engine (Milvus came back without its data); how many ids were synced. Ids not finished go back to the store."""
    ids = store.take_unsynced()
    if ids is None:
        refill()
        return 0
    try:
        if ids:
            sync(sorted(ids))
        store.count()  # the engine still holds the collection
    except EngineLost:
        log.warning("Milvus lost collection %r: refilled from Redis", store.name)
        refill()
        return 0
    except BaseException:
        store.mark_unsynced(ids)
        raise
    return len(ids)


@contextlib.contextmanager
def refilling(store: VectorStore) -> Iterator[None]:
    """Around refilling `store` whole from Redis (its owner's write lock held): the writes that missed its engine
    are in what is read, so their marks go; a refill that fails leaves the store marked for a whole refill."""
    store.take_unsynced()
    try:
        yield
    except BaseException:
        store.mark_unsynced(None)
        raise
