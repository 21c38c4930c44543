"""API keys: the scopes a key may hold, making and revoking keys, and checking a presented key.

A key is `fgk_` and 32 random bytes (URL-safe base64), shown once when made. Redis keeps
only its SHA-256: the keys are random and long, so a plain hash cannot be reversed or
guessed, and checking one costs a microsecond (no slow password hash on the gate's path).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from typing import Callable

from ..store.api_keys import KeyRecord, KeyStore
from .errors import InvalidKeyRequest, KeyExists, KeyNotFound
from .groups import door_name

# What each scope allows is in server/rpc/auth.py (every RPC is listed there).
SCOPES = ("gate", "enroll", "library", "embed", "admin")
KEY_PREFIX = "fgk_"
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def key_digest(key: str) -> str:
    """The hex SHA-256 under which a key is stored."""
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


def check_scopes(scopes) -> tuple[str, ...]:
    """The scopes, deduplicated in the canonical order; InvalidKeyRequest for none or an unknown one."""
    given = set(scopes)
    unknown = sorted(given - set(SCOPES))
    if unknown:
        raise InvalidKeyRequest(f"unknown scope {', '.join(map(repr, unknown))}; the scopes are {', '.join(SCOPES)}")
    if not given:
        raise InvalidKeyRequest(f"give a key at least one scope: {', '.join(SCOPES)}")
    return tuple(s for s in SCOPES if s in given)


class Keys:
    """Making, listing and revoking keys (the rules; storage is store/api_keys.py)."""

    def __init__(self, store: KeyStore) -> None:
        self.store = store

    def create(self, name: str, scopes, door: str = "") -> tuple[str, KeyRecord]:
        """A new key and its record; the key itself is never stored and cannot be shown again. With `door`, a gate
        key bound to that door: it may only call Pass as that door (domain/doors.py)."""
        if not _NAME.match(name or ""):
            raise InvalidKeyRequest(f"key names are 1 to 64 letters, digits and . _ -; got {name[:80]!r}")
        scopes = check_scopes(scopes)
        if door:
            door_name(door)
            if scopes != ("gate",):
                raise InvalidKeyRequest("a key bound to a door is a gate key: give it scope gate alone")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        record = self.store.create(name, scopes, key_digest(key), door)
        if record is None:
            raise KeyExists(f"a key named {name!r} exists; revoke it first or choose another name")
        return key, record

    def revoke(self, name: str) -> KeyRecord:
        """Revoke a key by name (again is a no-op)."""
        record = self.store.revoke(name)
        if record is None:
            raise KeyNotFound(f"no key named {name[:80]!r}")
        return record

    def all(self) -> list[KeyRecord]:
        """Every key record, revoked ones included."""
        return self.store.all()


class KeyRing:
    """Checks presented keys against Redis with a short cache.

    A key's record is re-read from Redis at most `ttl` seconds after it was last read
    (default 1 s), so a revocation made anywhere (another server, `facegrid keys revoke
    --redis-url`) takes effect here within a second; one made through this server's
    AdminService calls `forget_cached` and takes effect at once. A change feed from
    other servers can call `forget_cached(digest)` too.
    """

    def __init__(self, store: KeyStore, ttl: float = 1.0, capacity: int = 4096,
                 note_use: Callable[[str, float], None] | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.ttl = ttl
        self.capacity = capacity
        self._note_use = note_use  # (key name, Unix time): written in the background, about once a minute per key
        self._clock = clock
        self._cache: dict[str, tuple[KeyRecord | None, float]] = {}  # digest -> (record or None, read at)
        self._used: dict[str, float] = {}  # key name -> when its use was last noted
        self._any_keys = False
        self._any_checked = -float("inf")
        self._lock = threading.Lock()

    def lookup(self, key: str) -> KeyRecord | None:
        """The live record of a presented key, or None (unknown or revoked)."""
        return self.lookup_digest(key_digest(key))

    def lookup_digest(self, digest: str) -> KeyRecord | None:
        """The live record of a key by its digest (a console session keeps the digest, never the key), or None."""
        now = self._clock()
        with self._lock:
            cached = self._cache.get(digest)
        if cached is None or now - cached[1] > self.ttl:
            record = self.store.by_digest(digest)
            with self._lock:
                if len(self._cache) >= self.capacity:  # bounded against floods of made-up keys
                    self._cache.clear()
                self._cache[digest] = (record, now)
        else:
            record = cached[0]
        if record is None or record.revoked:
            return None
        self._noted(record.name, now)
        return record

    def cached(self, key: str) -> bool:
        """Whether the key's record (or its absence) was read within the ttl: `lookup` will not read Redis."""
        digest = key_digest(key)
        with self._lock:
            cached = self._cache.get(digest)
        return cached is not None and self._clock() - cached[1] <= self.ttl

    def _noted(self, name: str, now: float) -> None:
        if self._note_use is None:
            return
        with self._lock:
            if now - self._used.get(name, -float("inf")) < 60:
                return
            self._used[name] = now
        self._note_use(name, time.time())

    def forget_cached(self, digest: str) -> None:
        """Drop a key from the cache: its next use reads Redis (after a revocation)."""
        with self._lock:
            self._cache.pop(digest, None)

    def any_keys(self) -> bool:
        """Whether any key exists; once true it stays true (read from Redis at most once per ttl until then)."""
        if self._any_keys:
            return True
        now = self._clock()
        if now - self._any_checked > self.ttl:
            self._any_keys = self.store.any_keys()
            self._any_checked = now
        return self._any_keys

    def note_created(self) -> None:
        """A key was just made through this server: keys are required from now on."""
        self._any_keys = True
