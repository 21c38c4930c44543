"""The server's answer to one burst: `Pass` through the SDK's connection (keys, TLS), never an exception.

Fails closed: an unreachable server, a timeout, a refusal of the call or any other error comes back as a
DENY with reason SERVER_UNAVAILABLE (or, when the refusal names a PassReason in its ErrorInfo, that reason)
and `error` saying what failed. After a failed call the connection is made afresh, so that a server back
from an outage is reached at the next approach instead of after gRPC's reconnect backoff (up to 2 minutes).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from dataclasses import dataclass, field
from typing import Callable, Sequence

import grpc

from facegrid.v1 import gate_pb2

log = logging.getLogger("facegrid.door")

SERVER_UNAVAILABLE = "SERVER_UNAVAILABLE"


@dataclass
class PassResult:
    """The door's decision as the server gave it (the fields of the SDK's PassResult), or the client's DENY."""

    decision: str                       # "ACCEPT" or "DENY"
    reason: str                         # a PassReason name
    message: str = ""
    subject: str | None = None
    display_name: str = ""
    band: str = ""                      # LOW, MEDIUM, HIGH; "" when none
    score: float | None = None          # None to gate keys (they get the band)
    liveness: str = "NOT_CHECKED"
    liveness_score: float | None = None
    frame_liveness: list[float] = field(default_factory=list)
    door: str = ""
    fallback: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    error: str = ""                     # set when the client denied because the call failed

    @property
    def accepted(self) -> bool:
        """Whether the door opens for this result."""
        return self.decision == "ACCEPT"


def denied(reason: str, message: str, error: str = "") -> PassResult:
    """A DENY the client decided itself."""
    return PassResult("DENY", reason, message, error=error)


def from_sdk(result) -> PassResult:
    """The SDK's PassResult (from `Facegrid.pass_burst`) as ours."""
    timings = result.timings
    if dataclasses.is_dataclass(timings):
        timings = dataclasses.asdict(timings)
    values = {f.name: getattr(result, f.name) for f in dataclasses.fields(PassResult) if hasattr(result, f.name)}
    return PassResult(**{**values, "subject": values.get("subject") or None, "timings": dict(timings or {}),
                          "frame_liveness": list(values.get("frame_liveness") or [])})


def status_code(error: BaseException) -> grpc.StatusCode | None:
    """The gRPC status of a failed call (an RpcError or the SDK's FacegridError); None for other errors."""
    code = getattr(error, "code", None)
    code = code() if callable(code) else code
    return code if isinstance(code, grpc.StatusCode) else None


def failure_reason(error: BaseException) -> tuple[str, str]:
    """(PassReason name, what failed in words) for a failed call."""
    code = status_code(error)
    message = (error.details() if isinstance(error, grpc.RpcError) else getattr(error, "message", None)) or str(error)
    reason = getattr(error, "reason", "")   # the SDK's FacegridError: its ErrorInfo's reason
    if reason not in gate_pb2.PassReason.keys() or reason in ("PASS_REASON_UNSPECIFIED", "ADMITTED"):
        reason = SERVER_UNAVAILABLE
    name = code.name if code is not None else type(error).__name__
    return reason, f"{name}: {message}"[:300]


class PassClient:
    """Sends bursts to the server's Pass; thread-safe; `connect` makes an SDK client (Facegrid)."""

    def __init__(self, connect: Callable[[], object], timeout: float = 3.0) -> None:
        self._connect = connect
        self.timeout = timeout
        self._client = None
        self._lock = threading.Lock()

    def decide(self, frames: Sequence[bytes], door: str, subject_id: str = "", track: str = "",
               challenge: str = "none", frame_times: Sequence[float] | None = None) -> PassResult:
        """The server's decision on one burst; a DENY when it cannot give one."""
        try:
            client = self._current()
            return from_sdk(client.pass_burst(list(frames), door=door, subject_id=subject_id, track=track,
                                              challenge=challenge, frame_times=frame_times, timeout=self.timeout))
        except Exception as error:  # noqa: BLE001 - fail closed: whatever went wrong, the door stays shut
            reason, what = failure_reason(error)
            log.warning("door %s track %s: no decision from the server (%s): DENY %s", door, track, what, reason)
            if status_code(error) in (None, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                self._reset()
            return denied(reason, "the server could not decide", what)

    def _current(self):
        with self._lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def _reset(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - closing a broken channel may fail too; it is gone either way
                pass

    def close(self) -> None:
        """Close the SDK client, if one is open."""
        self._reset()
