"""A lock shared by every server on one Redis: SET NX PX with a random token, renewed while held.

For work that reads a collection's grouping, thinks, and writes it back (clustering,
corrections, undo): without it, two servers doing that at once would each overwrite
the other's result. The expiry frees the lock of a server that died holding it; a
holder renews it every third of the expiry, so long work keeps it.
"""

from __future__ import annotations

import threading
import time
import uuid

import redis

_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"


class LockBusy(Exception):
    """Another server held the lock for longer than we were willing to wait."""


class RedisLock:
    """`with RedisLock(client, key):` — held by one holder at a time across servers."""

    def __init__(self, client: redis.Redis, key: str, wait: float = 30.0, ttl_ms: int = 30_000) -> None:
        self.redis = client
        self.key = key
        self.wait = wait
        self.ttl_ms = ttl_ms
        self._token = ""
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def acquire(self) -> None:
        """Take the lock, waiting up to `wait` seconds (LockBusy after that)."""
        token = uuid.uuid4().hex
        deadline = time.monotonic() + self.wait
        while not self.redis.set(self.key, token, nx=True, px=self.ttl_ms):
            if time.monotonic() >= deadline:
                raise LockBusy(f"{self.key} is held by another server")
            time.sleep(0.05)
        self._token = token
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew, name="lock-renew", daemon=True)
        self._renewer.start()

    def release(self) -> None:
        """Give the lock back (only if it is still ours: an expired one may be another's by now)."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
            self._renewer = None
        try:
            self.redis.eval(_RELEASE, 1, self.key, self._token)
        except redis.RedisError:
            pass  # it expires on its own

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl_ms / 3000):
            try:
                self.redis.eval(_RENEW, 1, self.key, self._token, self.ttl_ms)
            except redis.RedisError:
                pass  # Redis down: the holder's own calls fail too

    def __enter__(self) -> "RedisLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
