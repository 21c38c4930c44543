"""The audit log: a Redis Stream (`fg:audit`, schema.py) of gate decisions and key changes.

What an entry holds is fixed by `AuditEntry`: who (the key's name), what (the RPC), about
whom (the subject, stored as its pseudonym), the outcome (decision, score, threshold), from where (the peer),
a short detail, and for a door's Pass the door, the reason and (where the operator keeps probe thumbnails) the random
id of the thumbnail kept apart with its own retention (probe_thumbnails.py). Never face data, photos, vectors or keys. The stream id is the
entry's time (Redis's clock, milliseconds), and every append trims entries older
than the retention period (MINID, approximate: Redis drops whole nodes, cheaply).

The subject is stored as its keyed pseudonym (pseudonyms.py), never as the id: reading maps it back
to the id while the subject is enrolled; after its Forget the entries, earlier ones too, show the
pseudonym only, with nothing rewritten.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, replace

import redis

from .pseudonyms import Pseudonyms, is_pseudonym
from .schema import AUDIT

_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
_FIELDS = ("key", "rpc", "subject", "decision", "score", "threshold", "peer", "detail", "door", "reason", "probe")
MAX_SCAN = 50_000  # entries looked at per read, so a rare subject's search is paged, not unbounded


@dataclass(frozen=True)
class AuditEntry:
    """One audited event."""

    key_name: str  # the caller's key; "" where the server was open (loopback, no keys yet); "local" for the CLI on the server's machine
    rpc: str  # e.g. "GateService/Verify"
    decision: str  # "match", "no_match", "known", "unknown", "enrolled", "replaced", "refused", "forgotten", "created",
    # "revoked", or a status name
    subject_id: str = ""
    score: float | None = None
    threshold: float | None = None
    peer: str = ""
    detail: str = ""
    door: str = ""  # Pass: the door
    reason: str = ""  # Pass: the PassReason name; Enroll: NOT_LIKE_SUBJECT where a photo was refused as unlike
    probe: str = ""  # Pass: the id of the probe thumbnail kept (FACEGRID_PROBE_THUMBNAILS_DAYS), "" for none
    entry_id: str = ""  # set when read back: the stream id
    time: float = 0.0  # set when read back: Unix time, seconds

    def fields(self) -> dict[str, str]:
        """The entry as stream fields, leaving out the empty ones."""
        values = {"key": self.key_name, "rpc": self.rpc, "subject": self.subject_id, "decision": self.decision,
                  "score": "" if self.score is None else f"{self.score:.6f}",
                  "threshold": "" if self.threshold is None else f"{self.threshold:.6f}",
                  "peer": self.peer, "detail": self.detail, "door": self.door, "reason": self.reason, "probe": self.probe}
        return {k: v for k, v in values.items() if v != ""}


def _entry(entry_id: bytes, fields: dict) -> AuditEntry:
    text = {k.decode(): v.decode() for k, v in fields.items() if k.decode() in _FIELDS}
    ident = entry_id.decode()
    return AuditEntry(
        key_name=text.get("key", ""), rpc=text.get("rpc", ""), decision=text.get("decision", ""),
        subject_id=text.get("subject", ""),
        score=float(text["score"]) if "score" in text else None,
        threshold=float(text["threshold"]) if "threshold" in text else None,
        peer=text.get("peer", ""), detail=text.get("detail", ""), door=text.get("door", ""), reason=text.get("reason", ""),
        probe=text.get("probe", ""), entry_id=ident, time=int(ident.split("-")[0]) / 1000,
    )


def valid_entry_id(text: str) -> bool:
    """Whether `text` has the shape of an audit entry id ("<ms>-<seq>"), checked before it reaches Redis."""
    return bool(_ID.match(text))


class AuditStore:
    """Appends to and reads the audit stream."""

    def __init__(self, client: redis.Redis, retention_days: float | None = 30.0, pseudonyms: Pseudonyms | None = None) -> None:
        self.redis = client
        self.pseudonyms = pseudonyms or Pseudonyms(client)
        # None: append without trimming (the CLI on the server's machine leaves trimming to the server).
        self.retention_s = None if retention_days is None else retention_days * 86400

    def append(self, pipe, entry: AuditEntry) -> None:
        """One XADD on a pipeline (or the client itself), trimming what is past the retention period; the subject as
        its pseudonym."""
        fields = entry.fields()
        if "subject" in fields:
            fields["subject"] = self.pseudonyms.of(fields["subject"])
        if self.retention_s is None:
            pipe.xadd(AUDIT, fields)
            return
        cutoff_ms = int((time.time() - self.retention_s) * 1000)
        pipe.xadd(AUDIT, fields, minid=max(cutoff_ms, 0), approximate=True)

    def read(self, subject_id: str = "", since: float = 0.0, limit: int = 100, after: str = "",
             door: str = "", newest_first: bool = False) -> tuple[list[AuditEntry], str]:
        """Entries oldest first from `since` (Unix time) or after the entry id `after`, of one subject and one door if given;
        `newest_first`: from the newest back to `since` (`after`: the entries before it).

        Returns the entries and the id to continue after ("" at the end of the stream).
        """
        floor = f"{max(int(since * 1000), 0)}-0"
        if newest_first:
            start = f"({after}" if after else "+"

            def chunk_from(start: str, count: int) -> list:
                return self.redis.xrevrange(AUDIT, max=start, min=floor, count=count)
        else:
            start = f"({after}" if after else floor

            def chunk_from(start: str, count: int) -> list:
                return self.redis.xrange(AUDIT, min=start, max="+", count=count)
        wanted = {subject_id, self.pseudonyms.of(subject_id)} if subject_id else set()  # the id: entries of before pseudonyms
        found: list[AuditEntry] = []
        scanned = 0
        last = ""
        while len(found) < limit and scanned < MAX_SCAN:
            chunk = chunk_from(start, min(1000, max(limit - len(found), 100)))
            if not chunk:
                return self._named(found), ""
            for entry_id, fields in chunk:
                scanned += 1
                last = entry_id.decode()
                entry = _entry(entry_id, fields)
                if (not wanted or entry.subject_id in wanted) and (not door or entry.door == door):
                    found.append(entry)
                    if len(found) == limit:
                        break
            start = f"({last}"
        # More may follow: the caller continues after the last entry looked at.
        more = bool(last) and bool(chunk_from(f"({last}", 1))
        return self._named(found), last if more else ""

    def newest(self, limit: int = 100, since: float = 0.0, rpc: str = "", door: str = "", subject_id: str = "",
               reason: str = "") -> list[AuditEntry]:
        """Entries newest first back to `since` (Unix time), of one RPC, door, subject and reason where given: what a
        live view shows (at most MAX_SCAN entries looked at, so a rare filter costs a bounded read)."""
        wanted = {subject_id, self.pseudonyms.of(subject_id)} if subject_id else set()
        start, stop = "+", f"{max(int(since * 1000), 0)}-0"
        found: list[AuditEntry] = []
        scanned = 0
        while len(found) < limit and scanned < MAX_SCAN:
            chunk = self.redis.xrevrange(AUDIT, max=start, min=stop, count=1000)
            if not chunk:
                break
            for entry_id, fields in chunk:
                scanned += 1
                entry = _entry(entry_id, fields)
                if ((not rpc or entry.rpc == rpc) and (not door or entry.door == door) and (not reason or entry.reason == reason)
                        and (not wanted or entry.subject_id in wanted)):
                    found.append(entry)
                    if len(found) == limit:
                        break
            start = f"({chunk[-1][0].decode()}"
        return self._named(found)

    def _named(self, entries: list[AuditEntry]) -> list[AuditEntry]:
        """Entries with each pseudonym of an enrolled subject shown as its id (a forgotten one's stays a pseudonym)."""
        ids = self.pseudonyms.subject_ids([e.subject_id for e in entries if is_pseudonym(e.subject_id)])
        return [replace(e, subject_id=ids[e.subject_id]) if e.subject_id in ids else e for e in entries]
