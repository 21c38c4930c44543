"""Typed errors of calls to encoder servers; server/rpc/errors.py maps them to status codes."""

from __future__ import annotations

import grpc

from facegrid.encoder.errors import EncoderError


class EncoderRefused(EncoderError):
    """An encoder server refused the input (an unreadable photo, an unknown model, a full queue): its status code
    and message are passed on to the caller as they are, as if the model had run here."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class EncodersUnavailable(Exception):
    """Every encoder server was tried and none answered (down, unreachable, past its deadline, or refusing this
    server's key): the message names each address and what it said."""


class EncodersBusy(EncoderRefused):
    """Every encoder server that answered refused the call for load (its queue full): RESOURCE_EXHAUSTED with
    the OVERLOADED detail, so the caller retries shortly; the message names each address and what it said."""

    def __init__(self, message: str) -> None:
        super().__init__(grpc.StatusCode.RESOURCE_EXHAUSTED, message)
