"""After Milvus was unreachable, every collection is rebuilt from Redis once it answers again.

A write reaches Redis (the system of record) first and the vector engine second; while Milvus is
down the second step fails (the caller gets UNAVAILABLE, Redis keeps the write) and a retried call
may find its write already in Redis and go no further (a photo already indexed). Without a catch-up
Milvus would miss those until the next start; with it, a few seconds after Milvus returns.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

from facegrid.index.errors import EngineError
from facegrid.index.milvus_store import outages, probe, safe_uri

log = logging.getLogger("facegrid.server")


class EngineCatchUp:
    """A thread that rebuilds from Redis whenever Milvus was unreachable since the last look and answers now."""

    def __init__(self, uri: str, rebuild: Callable[[], object], interval_s: float = 2.0) -> None:
        self._uri = uri
        self._rebuild = rebuild
        self._interval = interval_s
        self._seen = outages(uri)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="milvus catch-up", daemon=True)
        self.rebuilds = 0  # catch-ups done (for tests and logs)

    def start(self) -> "EngineCatchUp":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            count = outages(self._uri)
            if count == self._seen:
                continue
            try:
                probe(self._uri, timeout=2.0)
                self._rebuild()
            except EngineError as error:  # down still, or again: the next look tries once more
                log.info("Milvus catch-up waits: %s", error)
                continue
            except Exception:  # a bug must not end the thread; the next outage tries again
                log.exception("Milvus catch-up failed")
                continue
            self._seen = count
            self.rebuilds += 1
            log.info("Milvus at %s answers again: every collection rebuilt from Redis", safe_uri(self._uri))
