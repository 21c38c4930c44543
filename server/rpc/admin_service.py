"""gRPC AdminService: API keys, the audit log and door rules (scope `admin`); requests to typed calls of
domain/admin_core.py's AdminCore, results to messages."""

from __future__ import annotations

from facegrid.v1 import admin_pb2, admin_pb2_grpc, gate_pb2

from ..domain.admin_core import AdminCore
from ..store.api_keys import KeyRecord
from ..store.audit import AuditEntry
from ..store.doors import DoorRecord
from .errors import grpc_errors


def api_key(record: KeyRecord) -> admin_pb2.ApiKey:
    """A key's record as sent: never the key nor its hash."""
    return admin_pb2.ApiKey(name=record.name, scopes=list(record.scopes), created_at=record.created_at,
                            last_used_at=record.last_used_at or 0.0, revoked=record.revoked, revoked_at=record.revoked_at or 0.0,
                            door=record.door)


def door(record: DoorRecord) -> gate_pb2.Door:
    """A door's rule as sent."""
    return gate_pb2.Door(name=record.name, groups=list(record.groups), hours=record.hours, timezone=record.timezone,
                         fallback=record.fallback, updated_at=record.updated_at, last_seen_at=record.last_seen_at)


def audit_entry(entry: AuditEntry) -> admin_pb2.AuditEntry:
    """An audit entry as sent."""
    message = admin_pb2.AuditEntry(id=entry.entry_id, time=entry.time, key_name=entry.key_name, rpc=entry.rpc,
                                   subject_id=entry.subject_id, decision=entry.decision, peer=entry.peer, detail=entry.detail,
                                   door=entry.door, reason=entry.reason)
    if entry.score is not None:
        message.score = entry.score
    if entry.threshold is not None:
        message.threshold = entry.threshold
    return message


class AdminService(admin_pb2_grpc.AdminServiceServicer):
    """Administration over gRPC."""

    def __init__(self, core: AdminCore) -> None:
        self.core = core

    @grpc_errors
    def CreateKey(self, request: admin_pb2.CreateKeyRequest, context) -> admin_pb2.CreateKeyResponse:
        """Make a key with scopes (and a door); the key itself is answered only this once."""
        key, record = self.core.create_key(request.name, list(request.scopes), request.door)
        return admin_pb2.CreateKeyResponse(key=key, record=api_key(record))

    @grpc_errors
    def ListKeys(self, request, context) -> admin_pb2.ListKeysResponse:
        """Every key record, live or revoked (never the key or its hash)."""
        return admin_pb2.ListKeysResponse(keys=[api_key(r) for r in self.core.list_keys()])

    @grpc_errors
    def RevokeKey(self, request: admin_pb2.RevokeKeyRequest, context) -> admin_pb2.ApiKey:
        """Revoke a key by name; this server refuses it from the next call on."""
        return api_key(self.core.revoke_key(request.name))

    @grpc_errors
    def ListAudit(self, request: admin_pb2.ListAuditRequest, context) -> admin_pb2.ListAuditResponse:
        """One page of the audit log, oldest first, filtered by subject, time and door."""
        page = self.core.read_audit(request.subject_id, request.since, request.limit, request.page_token, request.door)
        return admin_pb2.ListAuditResponse(entries=[audit_entry(e) for e in page.entries], next_page_token=page.next_page_token)

    @grpc_errors
    def SetDoor(self, request: gate_pb2.Door, context) -> gate_pb2.Door:
        """Create or replace a door's rule."""
        record = DoorRecord(request.name, tuple(request.groups), request.hours, request.timezone, request.fallback)
        return door(self.core.set_door(record))

    @grpc_errors
    def ListDoors(self, request, context) -> admin_pb2.ListDoorsResponse:
        """Every door rule, by name."""
        return admin_pb2.ListDoorsResponse(doors=[door(r) for r in self.core.list_doors()])

    @grpc_errors
    def DeleteDoor(self, request: admin_pb2.DeleteDoorRequest, context) -> gate_pb2.Door:
        """Remove a door's rule."""
        return door(self.core.delete_door(request.name))
