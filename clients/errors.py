"""FacegridError: a call the server refused or could not answer, with what it said about why, as plain values."""

from __future__ import annotations

from typing import Sequence

import grpc
from google.protobuf.message import Message

from .results import PhotoOutcome, ProbeRefusal


class FacegridError(Exception):
    """A call the server refused or could not answer: `code` is the gRPC status, `message` its reason in words.

    `reason` is the constant name of the server's ErrorInfo (e.g. "FACE_TOO_SMALL", "NO_USABLE_PHOTO", "OVERLOADED"),
    `retry_after` the seconds its RetryInfo asks to wait (None when it asked for none), `outcomes` every photo's
    outcome of a refused Enroll, `refusal` a refused probe's face, `item_id` the item of a stream that failed
    (embed_many). `details` keeps the decoded google.rpc detail messages themselves (ErrorInfo, RetryInfo,
    EnrollResponse, PhotoRefusal) for what the typed fields do not say. clients/convert.py makes one from a failed call.
    """

    def __init__(self, code: grpc.StatusCode, message: str, details: Sequence[Message] = (), item_id: str = "", *,
                 reason: str = "", retry_after: float | None = None, outcomes: Sequence[PhotoOutcome] = (),
                 refusal: ProbeRefusal | None = None) -> None:
        """The error with what the server said; the keyword-only values are read from its details by convert.py."""
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.details = list(details)
        self.item_id = item_id
        self.reason = reason
        self.retry_after = retry_after
        self.outcomes = list(outcomes)
        self.refusal = refusal
