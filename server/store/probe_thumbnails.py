"""Door probe thumbnails in Redis (key names in schema.py), kept only where the operator turned them on.

Each thumbnail is one JPEG under a random id with the retention period as its TTL. A recognised subject's ids are
also in a set of theirs, so Forget removes them all; the write checks, in the same script, that the subject is still
enrolled, so a Pass decided just before a Forget cannot leave a thumbnail of a forgotten subject behind.
"""

from __future__ import annotations

import re

import redis

from .schema import probe_key, subject_key, subject_probes_key

_ID = re.compile(r"^[A-Za-z0-9_-]{16,32}$")

# KEYS: thumbnail, the subject's set, the subject's record. ARGV: JPEG, TTL seconds, id. Written only while the
# subject is enrolled (one script: atomic with a Forget, which deletes the record before the thumbnails).
_KEEP_OF_SUBJECT = """
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  redis.call('SADD', KEYS[2], ARGV[3])
  redis.call('EXPIRE', KEYS[2], ARGV[2])
end
return 0
"""


def valid_probe_id(text: str) -> bool:
    """Whether `text` has the shape of a thumbnail id (checked before it reaches Redis)."""
    return bool(_ID.match(text))


class ProbeThumbnailStore:
    """Writes, reads and removes probe thumbnails."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    @staticmethod
    def put(pipe, probe_id: str, jpeg: bytes, ttl_s: int, subject_id: str = "") -> None:
        """On a pipeline (a background write): one thumbnail, listed under its subject where one was recognised."""
        if subject_id:
            pipe.eval(_KEEP_OF_SUBJECT, 3, probe_key(probe_id), subject_probes_key(subject_id), subject_key(subject_id),
                      jpeg, ttl_s, probe_id)
        else:
            pipe.set(probe_key(probe_id), jpeg, ex=ttl_s)

    def get(self, probe_id: str) -> bytes | None:
        """A thumbnail's JPEG, or None (never kept, past its retention, or forgotten)."""
        return self.redis.get(probe_key(probe_id)) if valid_probe_id(probe_id) else None

    def kept(self, probe_ids: list[str]) -> set[str]:
        """Which of these ids still have their thumbnail (one round trip)."""
        asked = [p for p in dict.fromkeys(probe_ids) if valid_probe_id(p)]
        if not asked:
            return set()
        pipe = self.redis.pipeline(transaction=False)
        for probe_id in asked:
            pipe.exists(probe_key(probe_id))
        return {probe_id for probe_id, found in zip(asked, pipe.execute()) if found}

    def forget(self, subject_id: str) -> int:
        """Remove every thumbnail of a subject; how many there were."""
        ids = [raw.decode() for raw in self.redis.smembers(subject_probes_key(subject_id))]
        pipe = self.redis.pipeline(transaction=False)
        for probe_id in ids:
            pipe.delete(probe_key(probe_id))
        pipe.delete(subject_probes_key(subject_id))
        pipe.execute()
        return len(ids)
