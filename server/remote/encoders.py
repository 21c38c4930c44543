"""The index role's encoder servers: one channel each, client-side round-robin, health checks and failover.

Why client-side: encoders are stateless and every call is idempotent (embedding the same bytes twice gives
the same vector), so any encoder may take any call and a failed one can simply be sent to the next; no proxy
sits between the roles. A call starts at the next encoder in turn among those that look up, and moves on when
one answers UNAVAILABLE (down, restarting, a worker died) or DEADLINE_EXCEEDED (hung, overloaded); encoders
marked down are tried last, so one that came back is found even before the health check sees it. An encoder
that refuses for load (RESOURCE_EXHAUSTED with the OVERLOADED detail: its queue is full) is well, only busy:
the call moves on without marking it down, and when every encoder that answered was busy the caller gets
RESOURCE_EXHAUSTED, OVERLOADED, to retry shortly. Every other status is the input's fault (an unreadable photo,
an unknown model, a photo over the size limits) and is passed on as it is: another encoder would say the same. A background thread asks each encoder's gRPC health service once a second, so a
dead encoder costs a failed call once, not on every call.
"""

from __future__ import annotations

import itertools
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from facegrid.v1 import encoder_pb2, encoder_pb2_grpc

from ..rpc.error_details import is_overloaded
from .deadline import time_left
from ..domain.errors import EncoderRefused, EncodersBusy, EncodersUnavailable

log = logging.getLogger("facegrid.server")

SERVICE = encoder_pb2.DESCRIPTOR.services_by_name["EncoderService"].full_name
FAILOVER = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
# The encoder does not take this server's key: a deployment mistake, not the caller's; try another encoder.
KEY_REFUSED = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)


@dataclass(frozen=True)
class EncoderLink:
    """How the index server reaches its encoders: addresses, key, TLS files, per-call deadline."""

    addresses: tuple[str, ...]
    api_key: str = ""
    ca: str = ""  # PEM of the CA that signed the encoders' certificates; empty: plaintext
    cert: str = ""  # client certificate and key, for encoders that require mutual TLS
    key: str = ""
    timeout_s: float = 30.0
    message_bytes: int = 64 << 20
    health_every_s: float = 1.0

    def credentials(self) -> grpc.ChannelCredentials | None:
        """TLS credentials from the PEM files; None for plaintext (no CA given)."""
        if not self.ca:
            if self.cert or self.key:
                raise ValueError("FACEGRID_ENCODER_CERT/KEY need FACEGRID_ENCODER_CA: client certificates go over TLS")
            return None
        if bool(self.cert) != bool(self.key):
            raise ValueError("a client certificate needs both FACEGRID_ENCODER_CERT and FACEGRID_ENCODER_KEY")
        try:
            read = lambda path: Path(path).expanduser().read_bytes() if path else None  # noqa: E731
            return grpc.ssl_channel_credentials(root_certificates=read(self.ca), private_key=read(self.key),
                                                certificate_chain=read(self.cert))
        except OSError as error:
            raise ValueError(f"cannot read a TLS file for the encoders: {error.filename}: {error.strerror}") from None


@dataclass
class _Encoder:
    address: str
    channel: grpc.Channel
    stub: encoder_pb2_grpc.EncoderServiceStub
    health: health_pb2_grpc.HealthStub
    up: bool = True
    calls: int = 0  # answered calls, for the bench and the log
    failures: int = 0
    busy: int = 0  # calls it refused for load, sent to another encoder


@dataclass(frozen=True)
class EncoderModels:
    """What one encoder answered to ListModels, or why it did not."""

    address: str
    models: tuple[encoder_pb2.ModelInfo, ...] = ()
    error: str = ""  # empty when it answered
    key_refused: bool = False
    not_an_encoder: bool = False  # it answers, but serves no EncoderService (an index server, say)
    by_name: dict = field(default_factory=dict, compare=False)


class EncoderPool:
    """Calls EncoderService methods on one of several encoder servers, failing over to the next."""

    def __init__(self, link: EncoderLink) -> None:
        if not link.addresses:
            raise ValueError("no encoder address given")
        self.link = link
        credentials = link.credentials()
        options = [("grpc.max_receive_message_length", link.message_bytes),
                   ("grpc.max_send_message_length", link.message_bytes),
                   # gRPC's default reconnect backoff grows to 120 s: an encoder restarted after a long outage would
                   # sit unused that long. At most 5 s between attempts, so the health check finds it back soon.
                   ("grpc.initial_reconnect_backoff_ms", 500), ("grpc.max_reconnect_backoff_ms", 5000)]
        self._metadata = (("authorization", f"Bearer {link.api_key}"),) if link.api_key else ()
        self._encoders = []
        for address in link.addresses:
            channel = (grpc.secure_channel(address, credentials, options=options) if credentials is not None
                       else grpc.insecure_channel(address, options=options))
            self._encoders.append(_Encoder(address, channel, encoder_pb2_grpc.EncoderServiceStub(channel),
                                           health_pb2_grpc.HealthStub(channel)))
        self._turn = itertools.count()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._checker: threading.Thread | None = None

    @property
    def addresses(self) -> list[str]:
        """The encoder servers' addresses, in failover order."""
        return [e.address for e in self._encoders]

    def up(self) -> list[str]:
        """The encoders that look up now (by the last call or health check)."""
        return [e.address for e in self._encoders if e.up]

    def _order(self) -> list[_Encoder]:
        """Every encoder, starting at the next in turn: those up first, then those marked down."""
        with self._lock:
            start = next(self._turn) % len(self._encoders)
        turned = self._encoders[start:] + self._encoders[:start]
        return [e for e in turned if e.up] + [e for e in turned if not e.up]

    def call(self, method: str, request, timeout: float | None = None):
        """`method` (an EncoderService RPC name) on the next encoder that answers; EncoderRefused for the
        input's own errors, EncodersUnavailable naming every address tried when none answers."""
        tried, busy = [], False
        for encoder in self._order():
            allowed, left = timeout or self.link.timeout_s, time_left()
            callers = left is not None and left < allowed  # the caller's own deadline (a gate call) comes first
            if callers:
                if left <= 0.01:
                    tried.append("(the caller's deadline passed)")
                    break
                allowed = left
            try:
                reply = getattr(encoder.stub, method)(request, timeout=allowed, metadata=self._metadata)
            except grpc.RpcError as error:
                code = error.code()
                if is_overloaded(error):  # well but busy: the next encoder, without marking this one down
                    encoder.busy, busy = encoder.busy + 1, True
                    tried.append(f"{encoder.address} (busy: {error.details()})")
                    continue
                if code not in FAILOVER + KEY_REFUSED:
                    encoder.calls += 1
                    raise EncoderRefused(code.name, error.details() or code.name) from None
                if code == grpc.StatusCode.DEADLINE_EXCEEDED and callers:  # the caller's time ran out, not the encoder
                    raise EncoderRefused(code.name, "the call's deadline passed while the encoder was embedding") from None
                self._mark(encoder, False, f"{code.name}: {error.details()}")
                tried.append(f"{encoder.address} ({code.name}: {error.details()})")
                continue
            encoder.calls += 1
            if not encoder.up:
                self._mark(encoder, True)
            return reply
        if busy:
            raise EncodersBusy(f"every encoder server that answered is busy; {method} tried {'; '.join(tried)}; retry shortly")
        raise EncodersUnavailable(f"no encoder server could take {method}; tried {'; '.join(tried)}")

    def _mark(self, encoder: _Encoder, up: bool, why: str = "") -> None:
        if encoder.up == up:
            if not up:
                encoder.failures += 1
            return
        encoder.up = up
        if up:
            log.info("encoder %s is up again", encoder.address)
        else:
            encoder.failures += 1
            log.warning("encoder %s is down (%s); calls go to the others", encoder.address, why)

    def list_models(self, timeout: float = 5.0) -> list[EncoderModels]:
        """Each encoder's models, asked of every one (at start: which of them serve the model needed)."""
        answers = []
        for encoder in self._encoders:
            try:
                reply = encoder.stub.ListModels(encoder_pb2.ListModelsRequest(), timeout=timeout, metadata=self._metadata)
            except grpc.RpcError as error:
                code = error.code()
                answers.append(EncoderModels(encoder.address, error=f"{code.name}: {error.details()}",
                                             key_refused=code in KEY_REFUSED,
                                             not_an_encoder=code == grpc.StatusCode.UNIMPLEMENTED))
                continue
            answers.append(EncoderModels(encoder.address, tuple(reply.models), by_name={m.name: m for m in reply.models}))
        return answers

    def check_health(self) -> None:
        """Ask each encoder's health service once; mark it up or down by its answer."""
        for encoder in self._encoders:
            try:
                # 2 s: a busy encoder on a loaded machine may take a while to answer; one that is gone fails at once
                status = encoder.health.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=2.0).status
                self._mark(encoder, status == health_pb2.HealthCheckResponse.SERVING, f"health: {status}")
            except grpc.RpcError as error:
                self._mark(encoder, False, f"health check: {error.code().name}")

    def start(self) -> "EncoderPool":
        """Start the background health checks."""
        def loop() -> None:
            while not self._stopping.wait(self.link.health_every_s):
                self.check_health()

        self._checker = threading.Thread(target=loop, name="encoder-health", daemon=True)
        self._checker.start()
        return self

    def stats(self) -> dict[str, dict]:
        """Per encoder: up or not, calls answered, failures seen, calls it refused for load."""
        return {e.address: {"up": e.up, "calls": e.calls, "failures": e.failures, "busy": e.busy} for e in self._encoders}

    def collector(self) -> "EncoderCollector":
        """Prometheus figures of the encoders, read at each scrape (register it with a metrics registry)."""
        return EncoderCollector(self)

    def close(self) -> None:
        """Stop the health checks and close the channels."""
        self._stopping.set()
        if self._checker is not None:
            self._checker.join(timeout=5)
        for encoder in self._encoders:
            encoder.channel.close()


class EncoderCollector:
    """facegrid_encoder_up, _calls_total, _failures_total and _busy_total per encoder address, read at scrape time."""

    def __init__(self, pool: EncoderPool) -> None:
        self.pool = pool

    def describe(self):
        """Declare nothing at registration, so the registry does not call collect() before the first scrape."""
        return []

    def collect(self):
        """The per-encoder figures of the pool at this scrape."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        up = GaugeMetricFamily("facegrid_encoder_up", "1 while the encoder server answers (calls, health checks)", labels=["address"])
        calls = CounterMetricFamily("facegrid_encoder_calls", "Calls answered by the encoder server", labels=["address"])
        failures = CounterMetricFamily("facegrid_encoder_failures", "Calls or health checks the encoder failed", labels=["address"])
        busy = CounterMetricFamily("facegrid_encoder_busy", "Calls the encoder refused for load (sent to another)", labels=["address"])
        for address, figures in self.pool.stats().items():
            up.add_metric([address], 1.0 if figures["up"] else 0.0)
            calls.add_metric([address], figures["calls"])
            failures.add_metric([address], figures["failures"])
            busy.add_metric([address], figures["busy"])
        yield from (up, calls, failures, busy)
