"""Health follows Redis: a watchdog pings it and says NOT_SERVING for every service while it does not answer.

Without Redis no decision can be made (the subject records live there), so a load
balancer or orchestrator should send calls elsewhere until it answers again; the
server itself keeps running and says SERVING as soon as Redis is back.
"""

from __future__ import annotations

import logging
import threading

import redis
from grpc_health.v1 import health, health_pb2

log = logging.getLogger("facegrid.server")


class RedisWatchdog:
    """Pings Redis every `interval` seconds on its own connection (short timeouts: a hung Redis counts as down)."""

    def __init__(self, client: redis.Redis, servicer: health.HealthServicer, services: tuple[str, ...], where: str,
                 interval: float = 0.5) -> None:
        self.redis = client
        self.servicer = servicer
        self.services = services
        self.where = where  # redacted, for the log
        self.interval = interval
        self.up: bool | None = None  # None until the first ping
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> bool:
        """Ping once and set every service's health accordingly; whether Redis answered."""
        try:
            up = bool(self.redis.ping())
            reason = ""
        except redis.RedisError as error:
            up, reason = False, type(error).__name__
        if up != self.up:
            status = health_pb2.HealthCheckResponse.SERVING if up else health_pb2.HealthCheckResponse.NOT_SERVING
            for name in self.services:
                self.servicer.set(name, status)
            if up:
                log.info("Redis at %s answers: SERVING", self.where)
            else:
                log.error("Redis at %s does not answer (%s): NOT_SERVING until it does", self.where, reason)
            self.up = up
        return up

    def start(self) -> None:
        """Check Redis once now, then every `interval` seconds in a thread."""
        self.check()
        self._thread = threading.Thread(target=self._run, name="redis-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop watching (before shutdown sets NOT_SERVING for good)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.check()
