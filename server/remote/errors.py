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
