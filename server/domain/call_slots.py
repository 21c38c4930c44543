"""Caps on calls that hold a thread for long, shared by every transport: a gRPC call and an HTTP request of the same
method take a slot of the same class, so neither transport can starve the gate's threads of the other.

IndexPhotos streams hold a thread for their whole life and Cluster, KMeans or SimilarPhotos can run for minutes;
beyond its class's cap a call is refused at once (SlotsFull: RESOURCE_EXHAUSTED, reason OVERLOADED), and Verify and
Identify always find a thread free of them (server/rpc/admission.py sizes gRPC's pool, the HTTP routes share them).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

STREAMS = "streams"
LONG_CALLS = "long calls"

# Methods ("Service/Method") -> their class. Calls not named here are short.
CLASS_OF = {
    "IndexService/IndexPhotos": STREAMS,
    "EncoderService/EmbedStream": STREAMS,
    "IndexService/Cluster": LONG_CALLS,
    "IndexService/KMeans": LONG_CALLS,
    "IndexService/SimilarPhotos": LONG_CALLS,  # a kNN graph over every photo vector
}


class SlotsFull(Exception):
    """Every slot of a call's class is taken: retry when one has ended."""


@dataclass
class CallClass:
    """A class of calls with its cap, and the setting that raises it (named in the refusal)."""

    name: str
    cap: int
    setting: str
    running: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take(self) -> None:
        """Take a slot, or SlotsFull when every slot is taken."""
        with self._lock:
            if self.running < self.cap:
                self.running += 1
                return
        raise SlotsFull(f"{self.cap} {self.name} are running, as many as this server takes at once ({self.setting}); "
                        f"retry when one has ended")

    def leave(self) -> None:
        """Give back the slot a call took."""
        with self._lock:
            self.running -= 1
