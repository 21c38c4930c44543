"""One byte budget for the photos held by every indexing stream together.

Each stream reads its photos on a thread; before a photo is queued, its bytes are taken from the
shared budget, and they are given back once its result is sent. When the budget is full a stream's
reader waits (the client is slowed by gRPC flow control), so the photos in memory never exceed the
budget however many streams run; a photo larger than the whole budget is taken alone, when nothing
else is held.
"""

from __future__ import annotations

import threading
import time


class ByteBudget:
    """At most `limit` bytes held, shared by all streams."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"the in-flight byte budget must be positive, got {limit}")
        self.limit = limit
        self.held = 0
        self.peak = 0  # the most ever held at once
        self._room = threading.Condition()

    def charge(self, size: int) -> int:
        """What a photo of `size` bytes costs: its size, or the whole budget for a larger one."""
        return min(max(size, 0), self.limit)

    def take(self, size: int, timeout: float, stopped: threading.Event | None = None) -> bool:
        """Take a photo's charge, waiting up to `timeout` seconds for room; False if there was none (or `stopped` was set)."""
        cost = self.charge(size)
        deadline = time.monotonic() + timeout
        with self._room:
            while self.held + cost > self.limit:
                left = deadline - time.monotonic()
                if left <= 0 or (stopped is not None and stopped.is_set()):
                    return False
                self._room.wait(min(left, 0.1))
            self.held += cost
            self.peak = max(self.peak, self.held)
            return True

    def give(self, cost: int) -> None:
        """Give back charges taken earlier."""
        if cost:
            with self._room:
                self.held -= cost
                self._room.notify_all()


class StreamAccount:
    """One stream's share of the budget, so whatever it still holds when it ends goes back."""

    def __init__(self, budget: ByteBudget) -> None:
        self.budget = budget
        self.held = 0
        self._closed = False
        self._lock = threading.Lock()

    def take(self, size: int, timeout: float, stopped: threading.Event | None = None) -> bool:
        """As ByteBudget.take; False too once the stream has ended (a reader thread may outlive its stream)."""
        if not self.budget.take(size, timeout, stopped):
            return False
        with self._lock:
            if not self._closed:
                self.held += self.budget.charge(size)
                return True
        self.budget.give(self.budget.charge(size))
        return False

    def give(self, sizes: list[int]) -> None:
        """Give back the charges of photos of these sizes (their results have been sent)."""
        cost = sum(self.budget.charge(size) for size in sizes)
        with self._lock:
            self.held -= cost
        self.budget.give(cost)

    def close(self) -> None:
        """The stream has ended: everything it still holds goes back."""
        with self._lock:
            cost, self.held, self._closed = self.held, 0, True
        self.budget.give(cost)
