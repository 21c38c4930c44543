"""gRPC AdminService: API keys, the audit log and door rules (scope `admin`; thin adapter over domain/keys.py and
domain/doors.py)."""

from __future__ import annotations

import base64
import binascii
import math

from facegrid.v1 import admin_pb2, admin_pb2_grpc, gate_pb2

from ..domain.doors import Doors
from ..domain.groups import door_name
from ..domain.keys import KeyRing, Keys
from ..store.api_keys import KeyRecord
from ..store.doors import DoorRecord, DoorStore
from ..store.audit import AuditEntry, AuditStore, valid_entry_id
from .audit import subject_of
from ..domain.errors import BadRequest
from .errors import grpc_errors

MAX_AUDIT_PAGE = 1000


def api_key(record: KeyRecord) -> admin_pb2.ApiKey:
    """A key's record as sent: never the key nor its hash."""
    return admin_pb2.ApiKey(name=record.name, scopes=list(record.scopes), created_at=record.created_at,
                            last_used_at=record.last_used_at or 0.0, revoked=record.revoked, revoked_at=record.revoked_at or 0.0,
                            door=record.door)


def door(record: DoorRecord) -> gate_pb2.Door:
    return gate_pb2.Door(name=record.name, groups=list(record.groups), hours=record.hours, timezone=record.timezone,
                         fallback=record.fallback, updated_at=record.updated_at, last_seen_at=record.last_seen_at)


def audit_entry(entry: AuditEntry) -> admin_pb2.AuditEntry:
    message = admin_pb2.AuditEntry(id=entry.entry_id, time=entry.time, key_name=entry.key_name, rpc=entry.rpc,
                                   subject_id=entry.subject_id, decision=entry.decision, peer=entry.peer, detail=entry.detail,
                                   door=entry.door, reason=entry.reason)
    if entry.score is not None:
        message.score = entry.score
    if entry.threshold is not None:
        message.threshold = entry.threshold
    return message


def page_token(entry_id: str) -> str:
    return base64.urlsafe_b64encode(entry_id.encode()).decode().rstrip("=") if entry_id else ""

MAX_SINCE = 1e11  # seconds: the year 5138


def entry_id_of(token: str) -> str:
    """The entry id a page token stands for; BadRequest for anything not made by page_token."""
    try:
        entry_id = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        entry_id = ""
    if not valid_entry_id(entry_id):
        raise BadRequest("page_token is not one this server gave out")
    return entry_id


class AdminService(admin_pb2_grpc.AdminServiceServicer):
    def __init__(self, keys: Keys, keyring: KeyRing, audit: AuditStore, doors: Doors | None = None) -> None:
        self.keys = keys
        self.keyring = keyring
        self.audit = audit
        self.doors = doors or Doors(DoorStore(audit.redis))

    @grpc_errors
    def CreateKey(self, request: admin_pb2.CreateKeyRequest, context) -> admin_pb2.CreateKeyResponse:
        key, record = self.keys.create(request.name, list(request.scopes), request.door)
        self.keyring.note_created()
        return admin_pb2.CreateKeyResponse(key=key, record=api_key(record))

    @grpc_errors
    def ListKeys(self, request, context) -> admin_pb2.ListKeysResponse:
        return admin_pb2.ListKeysResponse(keys=[api_key(r) for r in self.keys.all()])

    @grpc_errors
    def RevokeKey(self, request: admin_pb2.RevokeKeyRequest, context) -> admin_pb2.ApiKey:
        record = self.keys.revoke(request.name)
        self.keyring.forget_cached(record.digest)  # refused on this server from the next call on
        return api_key(record)

    @grpc_errors
    def ListAudit(self, request: admin_pb2.ListAuditRequest, context) -> admin_pb2.ListAuditResponse:
        limit = request.limit or 100
        if not 1 <= limit <= MAX_AUDIT_PAGE:
            raise BadRequest(f"limit must be between 1 and {MAX_AUDIT_PAGE}, got {request.limit}")
        # Stream ids are milliseconds in 64 bits: a time beyond MAX_SINCE is no time at all (fuzzing found it).
        if not (math.isfinite(request.since) and 0 <= request.since <= MAX_SINCE):
            raise BadRequest(f"since must be a Unix time in seconds, got {request.since}")
        after = entry_id_of(request.page_token) if request.page_token else ""
        subject = subject_of(request.subject_id) if request.subject_id else ""
        entries, last = self.audit.read(subject, request.since, limit, after, door_name(request.door) if request.door else "")
        return admin_pb2.ListAuditResponse(entries=[audit_entry(e) for e in entries], next_page_token=page_token(last))

    @grpc_errors
    def SetDoor(self, request: gate_pb2.Door, context) -> gate_pb2.Door:
        record = DoorRecord(request.name, tuple(request.groups), request.hours, request.timezone, request.fallback)
        return door(self.doors.set(record))

    @grpc_errors
    def ListDoors(self, request, context) -> admin_pb2.ListDoorsResponse:
        return admin_pb2.ListDoorsResponse(doors=[door(r) for r in self.doors.all()])

    @grpc_errors
    def DeleteDoor(self, request: admin_pb2.DeleteDoorRequest, context) -> gate_pb2.Door:
        return door(self.doors.delete(request.name))
