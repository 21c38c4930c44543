"""Key changes as the REST routes and the console's pages both make them: the AdminCore call and its audit entry (the
same fields as gRPC's, server/rpc/audit.py's _create_key and _revoke_key), so a change is logged alike whichever
screen or program made it. The new key itself goes back to the caller once and into no log."""

from __future__ import annotations

from fastapi import Request

from ..domain.callers import Caller
from ..store.api_keys import KeyRecord
from .routes import admin, audit, failed_decision

_MAX_TEXT = 130  # as rpc/audit.py: longer text in a request is cut, not stored whole


def _key_detail(name: str, scopes: list[str] | tuple[str, ...], door: str) -> str:
    return (f"key {name[:_MAX_TEXT]!r} scopes {','.join(s[:20] for s in list(scopes)[:10])}"
            + (f" door {door[:64]!r}" if door else ""))


def create_key(request: Request, caller: Caller, name: str, scopes: list[str], door: str = "") -> tuple[str, KeyRecord]:
    """A new key (to be shown once) and its record."""
    try:
        key, record = admin(request).create_key(name, scopes, door)
    except Exception as error:
        audit(request, caller, "AdminService/CreateKey", decision=failed_decision(error), detail=_key_detail(name, scopes, door))
        raise
    audit(request, caller, "AdminService/CreateKey", decision="created", detail=_key_detail(name, record.scopes, door))
    return key, record


def revoke_key(request: Request, caller: Caller, name: str) -> KeyRecord:
    """Revoke a key: refused from the next call on, its console sessions ended."""
    detail = f"key {name[:_MAX_TEXT]!r}"
    try:
        record = admin(request).revoke_key(name)
    except Exception as error:
        audit(request, caller, "AdminService/RevokeKey", decision=failed_decision(error), detail=detail)
        raise
    audit(request, caller, "AdminService/RevokeKey", decision="revoked", detail=detail)
    return record
