"""Keyed pseudonyms of subject ids, for the audit log and the forget log.

The audit log keeps who an entry was about as HMAC-SHA256(secret, subject id), never the id
itself (`~` and 24 hex digits: `~` is not allowed in a subject id, so a pseudonym is never
taken for one). While a subject is enrolled, `{fg}:pseudonyms` maps its pseudonym back to its
id, so the log reads as before; Forget removes that entry in its own transaction, and from then
on the subject's entries, earlier ones included, name only the pseudonym. Nothing has to be
rewritten in the audit stream (Redis cannot edit a stream entry in place, and a deleted entry's
bytes stay in its stream node until the whole node goes).

A pseudonym is not anonymous: whoever holds the secret and already knows an id can tell which
entries were about it (that is what `facegrid audit --subject ID` does, and what accountability
for a past decision needs). The secret is 32 random bytes made once in Redis
(`{fg}:pseudonym_secret`), so every server on one Redis computes the same pseudonyms, and a
backup of Redis carries it.

The forget log (`{fg}:forgotten`, pseudonym -> when) lets a restore of an older backup forget
again those forgotten since it was taken (server/backup.py).
"""

from __future__ import annotations

import hashlib
import hmac
import os

import redis

from .schema import FORGOTTEN, PSEUDONYM_SECRET, PSEUDONYMS

PREFIX = "~"
_HEX_DIGITS = 24  # 96 bits: collisions among even billions of ids are out of reach


def is_pseudonym(text: str) -> bool:
    """Whether `text` has the shape of a pseudonym (audit entries name these, never subject ids)."""
    return text.startswith(PREFIX) and len(text) == len(PREFIX) + _HEX_DIGITS


class Pseudonyms:
    """Computes pseudonyms with the secret kept in Redis (made on first use) and keeps the lookup back to ids."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._secret: bytes | None = None

    def secret(self) -> bytes:
        """The secret, made once (SET NX: servers starting together agree on one)."""
        if self._secret is None:
            self.redis.set(PSEUDONYM_SECRET, os.urandom(32), nx=True)
            self._secret = bytes(self.redis.get(PSEUDONYM_SECRET))
        return self._secret

    def of(self, subject_id: str) -> str:
        """The pseudonym of a subject id (of any text: an unknown id asked for is audited this way too)."""
        digest = hmac.new(self.secret(), subject_id.encode("utf-8"), hashlib.sha256).hexdigest()
        return PREFIX + digest[:_HEX_DIGITS]

    def remember(self, pipe, subject_id: str) -> None:
        """In an enrollment's transaction: the lookup from the subject's pseudonym to its id."""
        pipe.hset(PSEUDONYMS, self.of(subject_id), subject_id)

    def forget(self, pipe, subject_id: str, when: float) -> None:
        """In Forget's transaction: drop the lookup, and note the forget (by pseudonym) in the forget log."""
        pseudonym = self.of(subject_id)
        pipe.hdel(PSEUDONYMS, pseudonym)
        pipe.zadd(FORGOTTEN, {pseudonym: when})

    def subject_ids(self, pseudonyms: list[str]) -> dict[str, str]:
        """The ids of those pseudonyms whose subjects are enrolled (one round trip)."""
        unique = sorted(set(pseudonyms))
        if not unique:
            return {}
        values = self.redis.hmget(PSEUDONYMS, unique)
        return {p: v.decode() for p, v in zip(unique, values) if v is not None}

    def forgotten(self) -> dict[str, float]:
        """The forget log: pseudonym -> Unix time of the (last) forget."""
        return {p.decode(): float(t) for p, t in self.redis.zrange(FORGOTTEN, 0, -1, withscores=True)}
