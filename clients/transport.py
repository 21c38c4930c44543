"""How the SDK reaches a server: one gRPC channel (TLS or plaintext), the API key as call metadata, deadlines,
retries of idempotent calls with backoff, and, when nothing gets through, why (clients/reach.py).

The API key goes with every call as metadata `authorization: Bearer <key>`. Calls the server refused come back
as FacegridError (clients/convert.py reads what the server said about why).
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import grpc

from . import convert
from .errors import FacegridError
from .reach import diagnose

DEFAULT_ADDRESS = "127.0.0.1:50051"
_RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


@dataclass(frozen=True)
class TLS:
    """How to reach a TLS server: the CA to trust (None: the system's roots) and, for mutual TLS, our certificate.

    Paths or PEM bytes. `server_name`: the name to check in the server's certificate when it
    differs from the address's host.
    """

    ca: str | Path | bytes | None = None
    cert: str | Path | bytes | None = None
    key: str | Path | bytes | None = None
    server_name: str = ""

    def credentials(self) -> grpc.ChannelCredentials:
        """The channel credentials: the CA's certificate and, for mutual TLS, this client's certificate and key."""
        def pem(value):
            return None if value is None else value if isinstance(value, bytes) else Path(value).expanduser().read_bytes()

        if (self.cert is None) != (self.key is None):
            raise ValueError("a client certificate needs its key, and a key its certificate")
        return grpc.ssl_channel_credentials(root_certificates=pem(self.ca), private_key=pem(self.key),
                                            certificate_chain=pem(self.cert))


class Transport:
    """One channel to one server, with the key, deadlines and retries every call of the SDK goes through."""

    def __init__(self, address: str, timeout: float = 10.0, retries: int = 3, max_message_mb: int = 64,
                 api_key: str | None = None, tls: TLS | bool | None = None, connect_timeout: float = 5.0) -> None:
        """A channel to `address` (not connected until the first call); `tls`: a TLS, True for the system's roots."""
        self.address = address
        self.timeout = timeout
        self.retries = retries
        # The first call waits at most this long for a connection, then says why there is none (clients/reach.py).
        self.connect_timeout = connect_timeout
        self.tls = (TLS() if tls is True else tls) or None
        self.metadata = (("authorization", f"Bearer {api_key}"),) if api_key else None
        self._connected = False
        size = max_message_mb * 1024 * 1024
        options = [("grpc.max_send_message_length", size), ("grpc.max_receive_message_length", size)]
        if self.tls is not None:
            if self.tls.server_name:
                options.append(("grpc.ssl_target_name_override", self.tls.server_name))
            self.channel = grpc.secure_channel(address, self.tls.credentials(), options=options)
        else:
            self.channel = grpc.insecure_channel(address, options=options)

    def close(self) -> None:
        """Close the channel."""
        self.channel.close()

    def call(self, method: Callable[..., Any], request: Any, retry: bool = True, timeout: float | None = None) -> Any:
        """One unary call with the key and a deadline; with `retry`, sent again with backoff while the server is
        briefly unavailable or asks to come back later. A refusal raises FacegridError."""
        if not self._connected:
            self._connect(min(self.connect_timeout, timeout or self.timeout))
        attempts = self.retries + 1 if retry else 1
        for attempt in range(attempts):
            try:
                return method(request, timeout=timeout or self.timeout, wait_for_ready=attempt > 0, metadata=self.metadata)
            except grpc.RpcError as error:
                failed = convert.facegrid_error(error)
                # UNAVAILABLE and DEADLINE_EXCEEDED, and a refusal for load that says when to come back (not a refused
                # key's RetryInfo, AUTH_PENALTY: the same key would be refused again)
                busy = failed.code is grpc.StatusCode.RESOURCE_EXHAUSTED and failed.retry_after is not None
                if (failed.code in _RETRYABLE or busy) and attempt + 1 < attempts:
                    # jittered, so that callers refused together do not all come back together
                    time.sleep(max(0.2 * 2**attempt, failed.retry_after or 0.0) * random.uniform(1.0, 1.5))
                    continue
                if failed.code in _RETRYABLE:  # the server gone, or its own UNAVAILABLE (Redis down): say which
                    reason = diagnose(self.address, self.tls)
                    if reason is not None:
                        raise self._unreachable(reason) from None
                raise failed from None
        raise AssertionError("unreachable: the last attempt returns or raises")

    def stream(self, method: Callable[..., Iterator[Any]], requests: Iterable[Any]) -> Iterator[Any]:
        """A streaming call with the key: each reply as it comes; a refusal of the stream raises FacegridError.
        Not retried: the caller knows what was answered already."""
        try:
            yield from method(iter(requests), metadata=self.metadata)
        except grpc.RpcError as error:
            raise convert.facegrid_error(error) from None

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Block until the server accepts connections."""
        grpc.channel_ready_future(self.channel).result(timeout=timeout)

    def _unreachable(self, reason: str) -> FacegridError:
        return FacegridError(grpc.StatusCode.UNAVAILABLE, f"cannot reach facegrid at {self.address} ({reason})")

    def _connect(self, seconds: float) -> None:
        """Wait up to `seconds` for a connection; UNAVAILABLE saying why (refused, timed out, TLS) when none comes.

        A failed attempt is looked into at once: "connection refused" needs no waiting out."""
        states: list[grpc.ChannelConnectivity] = []
        changed = threading.Condition()

        def note(state: grpc.ChannelConnectivity) -> None:
            with changed:
                states.append(state)
                changed.notify_all()

        self.channel.subscribe(note, try_to_connect=True)
        deadline = time.monotonic() + seconds
        reason = None
        try:
            with changed:
                while time.monotonic() < deadline:
                    if grpc.ChannelConnectivity.READY in states:
                        self._connected = True
                        return
                    if grpc.ChannelConnectivity.TRANSIENT_FAILURE in states:
                        states.clear()
                        reason = diagnose(self.address, self.tls)
                        if reason is not None:
                            break
                    changed.wait(timeout=max(0.0, deadline - time.monotonic()))
        finally:
            self.channel.unsubscribe(note)
        raise self._unreachable(reason or diagnose(self.address, self.tls) or f"no connection within {seconds:g} s")
