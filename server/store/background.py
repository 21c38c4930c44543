"""Writes that must not slow the call that causes them (audit entries, key last-used times).

One thread drains a bounded queue and sends whatever has gathered as one pipeline. It waits
`linger_s` after the first write of a batch before sending: sent at once, the write ran (its
Python on the GIL, Redis's fsync beside it on a 2-core box) just while the call that queued it
was sending its reply, and added ~1 ms to every audited call (docs/benchmarks.md, issue 24).
Gathered, it runs later and carries the entries of every call ended meanwhile in one round trip.
A failed or dropped write is logged, never raised: auditing must not fail the gate. `stop`
cuts the wait short and sends everything queued before it returns.
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
LINGER_S = 0.05  # an audit entry reaches Redis within ~50 ms of its call's end; a crash loses at most that much


class BackgroundWrites:
    """A writer thread: `submit(fn)` queues `fn(pipeline)`; batches of up to `batch` go in one round trip."""

    def __init__(self, client: redis.Redis, capacity: int = 10_000, batch: int = 500, linger_s: float = LINGER_S) -> None:
        self.redis = client
        self.batch = batch
        self.linger_s = linger_s
        self._queue: queue.Queue = queue.Queue(maxsize=capacity)
        self._thread = threading.Thread(target=self._run, name="background-writes", daemon=True)
        self._stopping = threading.Event()  # set by stop(): no more lingering
        self._dropped = 0
        self._last_warning = 0.0

    def start(self) -> "BackgroundWrites":
        """Start the writer thread; returns self so it can be made and started in one line."""
        self._thread.start()
        return self

    @property
    def dropped(self) -> int:
        """Writes dropped so far because the queue was full."""
        return self._dropped

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
            writes = [self._queue.get()]  # idle: the first write wakes the writer
            while True:  # busy: the writer wakes on its own timer, and the calls queueing writes meanwhile wake nobody
                if writes[-1:] != [_STOP]:
                    if self.linger_s > 0:
                        self._stopping.wait(self.linger_s)
                    writes += self._take(self.batch - len(writes))
                stopping = writes[-1:] == [_STOP]
                writes = [w for w in writes if w is not _STOP]
                if writes:
                    self._send(writes)
                if stopping:
                    return
                if not writes:
                    break  # a linger with nothing queued: idle again
                writes = []

    def _take(self, limit: int) -> list:
        """Up to `limit` queued writes, without waiting; the stop mark, if met, is the last."""
        taken: list = []
        while len(taken) < limit:
            try:
                taken.append(self._queue.get_nowait())
            except queue.Empty:
                break
            if taken[-1] is _STOP:
                break
        return taken

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
        self._stopping.set()
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            log.warning("background writes: queue still full at shutdown; its writes are lost")
            return
        self._thread.join(timeout)
