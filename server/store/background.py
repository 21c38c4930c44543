"""Writes that must not slow the call that causes them (audit entries, key last-used times).

One thread drains a bounded queue and sends whatever has gathered as one pipeline. A
failed or dropped write is logged, never raised: auditing must not fail the gate.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Callable

import redis

log = logging.getLogger("facegrid.server")

Write = Callable[[redis.client.Pipeline], None]
_STOP = object()


class BackgroundWrites:
    """A writer thread: `submit(fn)` queues `fn(pipeline)`; batches of up to `batch` go in one round trip."""

    def __init__(self, client: redis.Redis, capacity: int = 10_000, batch: int = 500) -> None:
        self.redis = client
        self.batch = batch
        self._queue: queue.Queue = queue.Queue(maxsize=capacity)
        self._thread = threading.Thread(target=self._run, name="background-writes", daemon=True)
        self._dropped = 0
        self._last_warning = 0.0

    def start(self) -> "BackgroundWrites":
        """Start the writer thread; returns self so it can be made and started in one line."""
        self._thread.start()
        return self

    def submit(self, write: Write) -> None:
        """Queue a write; when the queue is full (Redis gone for a while) it is dropped and logged."""
        try:
            self._queue.put_nowait(write)
        except queue.Full:
            self._dropped += 1
            now = time.monotonic()
            if now - self._last_warning > 10:
                self._last_warning = now
                log.warning("background writes queue full: %d writes dropped so far (is Redis up?)", self._dropped)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            writes = [first]
            while len(writes) < self.batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    self._send(writes)
                    return
                writes.append(more)
            self._send(writes)

    def _send(self, writes: list[Write]) -> None:
        try:
            with self.redis.pipeline(transaction=False) as pipe:
                for write in writes:
                    write(pipe)
                pipe.execute()
        except Exception as error:  # noqa: BLE001 - logged; the calls these belong to were answered already
            log.warning("%d background writes (audit entries, key use times) lost: %s: %s",
                        len(writes), type(error).__name__, error)

    def stop(self, timeout: float = 5.0) -> None:
        """Send what is queued, then end the thread."""
        if not self._thread.is_alive():
            return
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            log.warning("background writes: queue still full at shutdown; its writes are lost")
            return
        self._thread.join(timeout)
