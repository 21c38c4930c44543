"""The encoder role's keys: it has no Redis, so the keys it takes are listed in a file, as SHA-256 digests.

One key a line: its SHA-256 hex digest (`facegrid keys digest KEY`), then optionally a name; blank lines
and lines starting with # are skipped. Such a key may call the EncoderService (scope `embed`) and nothing else,
which is all an encoder serves. The file is read again when it changes (checked at most once a second), so a
key is added or withdrawn without a restart.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

from ..store.api_keys import KeyRecord

from .keys import key_digest

_DIGEST = re.compile(r"^[0-9a-f]{64}$")


class KeyFileError(ValueError):
    """The keys file cannot be read, or a line is not a SHA-256 hex digest."""


def read_key_file(path: Path) -> dict[str, str]:
    """digest -> name of every key in the file (KeyFileError naming the line at fault)."""
    try:
        text = Path(path).expanduser().read_text()
    except OSError as error:
        raise KeyFileError(f"cannot read the keys file {path}: {error.strerror}") from None
    keys: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        digest, _, name = line.partition(" ")
        if not _DIGEST.match(digest.lower()):
            raise KeyFileError(f"{path} line {number}: expected the key's SHA-256 as 64 hex digits (not the key itself)")
        keys[digest.lower()] = name.strip() or f"key-{digest[:8].lower()}"
    return keys


class KeyFileRing:
    """KeyRing's interface (lookup, any_keys, forget_cached) over a keys file."""

    def __init__(self, path: str | Path, scopes: tuple[str, ...] = ("embed",), ttl: float = 1.0) -> None:
        self.path = Path(path)
        self.scopes = scopes
        self.ttl = ttl
        self._keys = read_key_file(self.path)  # at start a bad file refuses to start (KeyFileError)
        self._stamp = self._mtime()
        self._checked = time.monotonic()
        self._lock = threading.Lock()

    def _mtime(self) -> tuple[int, int]:
        """When the file last changed, and its size (a change within the clock's granularity still shows)."""
        try:
            stat = self.path.stat()
        except OSError:
            return (-1, -1)
        return (stat.st_mtime_ns, stat.st_size)

    def _fresh(self) -> dict[str, str]:
        now = time.monotonic()
        with self._lock:
            if now - self._checked > self.ttl:
                self._checked = now
                stamp = self._mtime()
                if stamp != self._stamp:
                    try:
                        self._keys, self._stamp = read_key_file(self.path), stamp
                    except KeyFileError:
                        pass  # a half-written file: keep the keys read last, read it again next time
            return self._keys

    def lookup(self, key: str) -> KeyRecord | None:
        """The record of a presented key, or None (not in the file)."""
        digest = key_digest(key)
        name = self._fresh().get(digest)
        if name is None:
            return None
        return KeyRecord(name=name, scopes=self.scopes, created_at=0.0, revoked_at=None, digest=digest)

    def any_keys(self) -> bool:
        """Whether the keys file holds any key (read again when it changed)."""
        return bool(self._fresh())

    def forget_cached(self, digest: str) -> None:
        """Nothing cached beyond the file itself."""
