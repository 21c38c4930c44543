"""API key records in Redis (key names in schema.py): only each key's SHA-256 is stored, never the key."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import redis

from .feed import KEY_REVOKED, ChangeFeed
from .schema import API_KEYS, API_KEYS_USED, api_key_key


@dataclass(frozen=True)
class KeyRecord:
    """One API key as stored: its name, scopes and life; `digest` never leaves the server."""

    name: str
    scopes: tuple[str, ...]
    created_at: float
    revoked_at: float | None
    digest: str
    last_used_at: float | None = None
    door: str = ""  # the door a gate key is bound to (it may only Pass as that door); "" for none

    @property
    def revoked(self) -> bool:
        """Whether the key was revoked (revoked keys stay listed, refused)."""
        return self.revoked_at is not None


def _record(digest: str, fields: dict, last_used: bytes | None = None) -> KeyRecord | None:
    if b"name" not in fields:
        return None
    revoked = fields.get(b"revoked_at")
    return KeyRecord(
        name=fields[b"name"].decode(),
        scopes=tuple(json.loads(fields[b"scopes"])),
        created_at=float(fields[b"created_at"]),
        revoked_at=float(revoked) if revoked else None,
        digest=digest,
        last_used_at=float(last_used) if last_used else None,
        door=fields.get(b"door", b"").decode(),
    )


class KeyStore:
    """Reads and writes key records; the rules (names, scopes, generating keys) are in domain/keys.py."""

    def __init__(self, client: redis.Redis, feed: ChangeFeed | None = None) -> None:
        self.redis = client
        self.feed = feed or ChangeFeed(client)

    def any_keys(self) -> bool:
        """Whether a key was ever created (revoked ones count: once keys are used, they stay required)."""
        return bool(self.redis.exists(API_KEYS))

    def by_digest(self, digest: str) -> KeyRecord | None:
        """The record of the key with this SHA-256, or None."""
        return _record(digest, self.redis.hgetall(api_key_key(digest)))

    def digest_of(self, name: str) -> str | None:
        """The stored SHA-256 of the named key, or None when no key has that name."""
        digest = self.redis.hget(API_KEYS, name)
        return digest.decode() if digest else None

    def create(self, name: str, scopes: tuple[str, ...], digest: str, door: str = "") -> KeyRecord | None:
        """Store a new key under `name` (bound to `door` if given); None when a live key already has that name.

        A revoked key's name may be taken again: its old record is deleted, so the old key stays refused.
        """
        record = KeyRecord(name, scopes, time.time(), None, digest, door=door)
        with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(API_KEYS)
                    old = pipe.hget(API_KEYS, name)
                    if old is not None:
                        previous = _record(old.decode(), pipe.hgetall(api_key_key(old.decode())))
                        if previous is not None and not previous.revoked:
                            pipe.unwatch()
                            return None
                    pipe.multi()
                    if old is not None:
                        pipe.delete(api_key_key(old.decode()))
                        pipe.hdel(API_KEYS_USED, name)
                    fields = {"name": name, "scopes": json.dumps(list(scopes)), "created_at": repr(record.created_at)}
                    if door:
                        fields["door"] = door
                    pipe.hset(api_key_key(digest), mapping=fields)
                    pipe.hset(API_KEYS, name, digest)
                    pipe.execute()
                    return record
                except redis.WatchError:
                    continue

    def revoke(self, name: str) -> KeyRecord | None:
        """Mark the key revoked (the first revocation's time is kept); None when no key has that name."""
        digest = self.digest_of(name)
        if digest is None:
            return None
        pipe = self.redis.pipeline(transaction=True)
        pipe.hsetnx(api_key_key(digest), "revoked_at", repr(time.time()))
        self.feed.publish(pipe, KEY_REVOKED, key_hash=digest)  # other servers drop it from their caches at once
        pipe.execute()
        return self.by_digest(digest)

    def all(self) -> list[KeyRecord]:
        """Every key, by name, with when it was last used."""
        names = self.redis.hgetall(API_KEYS)
        used = self.redis.hgetall(API_KEYS_USED)
        with self.redis.pipeline(transaction=False) as pipe:
            ordered = sorted(names.items())
            for _, digest in ordered:
                pipe.hgetall(api_key_key(digest.decode()))
            found = pipe.execute()
        records = [_record(digest.decode(), fields, used.get(name)) for (name, digest), fields in zip(ordered, found)]
        return [r for r in records if r is not None]

    @staticmethod
    def touch(pipe, name: str, when: float) -> None:
        """Note on a pipeline that the key was used (written in the background, never on a call's path)."""
        pipe.hset(API_KEYS_USED, name, repr(round(when)))
