"""The administration's service core: API keys, the audit log and door rules as typed calls, for any transport.

Keys are made and revoked through keys.py (a revoked key is refused on this server from the next call on, on the
others through the change feed); the audit log is read a page at a time with opaque page tokens; doors go through
doors.py, which checks their rules.
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass

from ..store.api_keys import KeyRecord
from ..store.audit import AuditEntry, AuditStore, valid_entry_id
from ..store.doors import DoorRecord
from .doors import Doors
from .enrollment import subject_of
from .errors import BadRequest
from .groups import door_name
from .keys import KeyRing, Keys

MAX_AUDIT_PAGE = 1000
DEFAULT_AUDIT_PAGE = 100
MAX_RECENT = 10_000  # entries of one live view (a door's last hour is counted from these)
MAX_SINCE = 1e11  # seconds: the year 5138


@dataclass(frozen=True)
class AuditPage:
    """Audit entries in the order asked for; `next_page_token` is "" after the last page."""

    entries: list[AuditEntry]
    next_page_token: str


def audit_token(entry_id: str) -> str:
    """The token of an audit page that ends at this entry ("" for none: the last page)."""
    return base64.urlsafe_b64encode(entry_id.encode()).decode().rstrip("=") if entry_id else ""


def entry_after(token: str) -> str:
    """The entry id a page token stands for; BadRequest for anything not made by audit_token."""
    try:
        entry_id = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        entry_id = ""
    if not valid_entry_id(entry_id):
        raise BadRequest("page_token is not one this server gave out")
    return entry_id


class AdminCore:
    """Keys, the audit log and doors (scope `admin`)."""

    def __init__(self, keys: Keys, keyring: KeyRing, audit: AuditStore, doors: Doors) -> None:
        self.keys = keys
        self.keyring = keyring
        self.audit = audit
        self.doors = doors

    def create_key(self, name: str, scopes: list[str], door: str = "") -> tuple[str, KeyRecord]:
        """A new key (shown once) and its record."""
        key, record = self.keys.create(name, scopes, door)
        self.keyring.note_created()
        return key, record

    def list_keys(self) -> list[KeyRecord]:
        """Every key's record (never the key nor its hash)."""
        return self.keys.all()

    def revoke_key(self, name: str) -> KeyRecord:
        """Revoke a key: refused on this server from the next call on."""
        record = self.keys.revoke(name)
        self.keyring.forget_cached(record.digest)
        return record

    def read_audit(self, subject_id: str = "", since: float = 0.0, limit: int = 0, page_token: str = "",
                   door: str = "", newest_first: bool = False) -> AuditPage:
        """A page of the audit log, filtered by subject, door and time (limit 0: DEFAULT_AUDIT_PAGE), oldest first
        (gRPC's order) or newest first (REST's and the console's: the latest decisions on the first page)."""
        wanted = limit or DEFAULT_AUDIT_PAGE
        if not 1 <= wanted <= MAX_AUDIT_PAGE:
            raise BadRequest(f"limit must be between 1 and {MAX_AUDIT_PAGE}, got {limit}")
        # Stream ids are milliseconds in 64 bits: a time beyond MAX_SINCE is no time at all (fuzzing found it).
        if not (math.isfinite(since) and 0 <= since <= MAX_SINCE):
            raise BadRequest(f"since must be a Unix time in seconds, got {since}")
        after = entry_after(page_token) if page_token else ""
        subject = subject_of(subject_id) if subject_id else ""
        entries, last = self.audit.read(subject, since, wanted, after, door_name(door) if door else "", newest_first)
        return AuditPage(entries, audit_token(last))

    def recent_audit(self, rpc: str = "", door: str = "", subject_id: str = "", reason: str = "", since: float = 0.0,
                     limit: int = DEFAULT_AUDIT_PAGE) -> list[AuditEntry]:
        """The newest audit entries (newest first) back to `since`, of one RPC, door, subject and reason where given:
        the console's live views."""
        if not 1 <= limit <= MAX_RECENT:
            raise BadRequest(f"limit must be between 1 and {MAX_RECENT}, got {limit}")
        if not (math.isfinite(since) and 0 <= since <= MAX_SINCE):
            raise BadRequest(f"since must be a Unix time in seconds, got {since}")
        subject = subject_of(subject_id) if subject_id else ""
        return self.audit.newest(limit, since, rpc, door_name(door) if door else "", subject, reason)

    def set_door(self, record: DoorRecord) -> DoorRecord:
        """Set a door's rule (its groups, hours, time zone, fallback note), checked."""
        return self.doors.set(record)

    def list_doors(self) -> list[DoorRecord]:
        """Every door's rule."""
        return self.doors.all()

    def delete_door(self, name: str) -> DoorRecord:
        """Delete a door's rule (DoorNotFound for an unknown door)."""
        return self.doors.delete(name)
