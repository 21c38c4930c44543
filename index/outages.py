"""How often a vector engine was found unreachable: the server's catch-up watches the count to know when to act."""

from __future__ import annotations

import threading


class EngineOutages:
    """A count of the calls that found one engine unreachable, shared by the stores opened on it."""

    def __init__(self) -> None:
        self._count = 0
        self._lock = threading.Lock()

    def note(self) -> None:
        """One more call found the engine unreachable."""
        with self._lock:
            self._count += 1

    @property
    def count(self) -> int:
        """Calls that found the engine unreachable so far."""
        with self._lock:
            return self._count
