"""Administration over HTTP: /v1/keys, /v1/audit and /v1/doors, each the AdminCore call its gRPC twin makes
(AdminService), with the same scope (admin) and the same audit entries as rpc/audit.py writes for it."""

from __future__ import annotations

from fastapi import Depends, Path, Query, Request

from ..domain.admin_core import MAX_AUDIT_PAGE, MAX_SINCE
from ..domain.callers import Caller
from ..store.doors import DoorRecord
from .admin_schemas import AuditEntryOut, AuditOut, CreatedKeyOut, DoorOut, DoorRule, DoorsOut, KeyOut, KeysOut, NewKey
from .routes import admin, audit, failed_decision, needs, router

router = router("admin")
MAX_TEXT = 130  # as rpc/audit.py: longer text in a request is cut, not stored whole
NAME = Path(min_length=1, max_length=64, description="1 to 64 letters, digits and . _ -")


def _key_detail(name: str, scopes: list[str] | tuple[str, ...], door: str) -> str:
    """The detail of a CreateKey entry, as rpc/audit.py writes it."""
    return (f"key {name[:MAX_TEXT]!r} scopes {','.join(s[:20] for s in list(scopes)[:10])}"
            + (f" door {door[:64]!r}" if door else ""))


@router.get("/keys", response_model=KeysOut)
def list_keys(request: Request, caller: Caller = Depends(needs("admin", "AdminService/ListKeys"))) -> KeysOut:
    """Every key, live or revoked, with its last use (scope admin; never the key nor its hash)."""
    return KeysOut(keys=[KeyOut.of(r) for r in admin(request).list_keys()])


@router.post("/keys", response_model=CreatedKeyOut, status_code=201)
def create_key(request: Request, new: NewKey,
               caller: Caller = Depends(needs("admin", "AdminService/CreateKey"))) -> CreatedKeyOut:
    """A new key with scopes (and, a gate key, a door); the key is in this answer only (scope admin). 409 when a live
    key has the name (a revoked key's name may be used again)."""
    try:
        key, record = admin(request).create_key(new.name, new.scopes, new.door)
    except Exception as error:
        audit(request, caller, "AdminService/CreateKey", decision=failed_decision(error),
              detail=_key_detail(new.name, new.scopes, new.door))
        raise
    audit(request, caller, "AdminService/CreateKey", decision="created", detail=_key_detail(new.name, record.scopes, new.door))
    return CreatedKeyOut(key=key, record=KeyOut.of(record))


@router.delete("/keys/{name}", response_model=KeyOut)
def revoke_key(request: Request, name: str = NAME,
               caller: Caller = Depends(needs("admin", "AdminService/RevokeKey"))) -> KeyOut:
    """Revoke a key: refused from the next call on, over HTTP and gRPC alike (scope admin; 404: no key has the name)."""
    try:
        record = admin(request).revoke_key(name)
    except Exception as error:
        audit(request, caller, "AdminService/RevokeKey", decision=failed_decision(error), detail=f"key {name[:MAX_TEXT]!r}")
        raise
    audit(request, caller, "AdminService/RevokeKey", decision="revoked", detail=f"key {name[:MAX_TEXT]!r}")
    return KeyOut.of(record)


@router.get("/audit", response_model=AuditOut)
def list_audit(request: Request,
               subject_id: str = Query("", max_length=256, description="only entries about this subject"),
               door: str = Query("", max_length=64, description="only entries of this door"),
               since: float = Query(0.0, ge=0, le=MAX_SINCE, description="Unix time, seconds; 0: the start of the log"),
               limit: int = Query(0, ge=0, le=MAX_AUDIT_PAGE, description="entries per page, 1..1000; 0: 100"),
               page_token: str = Query("", max_length=512, description="from the previous page, to go on"),
               oldest_first: bool = Query(False, description="gRPC's order: from `since` forwards"),
               caller: Caller = Depends(needs("admin", "AdminService/ListAudit"))) -> AuditOut:
    """One page of the audit log, newest first: gate decisions, enrollments, forgets, key and door changes, refused
    calls (scope admin)."""
    page = admin(request).read_audit(subject_id, since, limit, page_token, door, newest_first=not oldest_first)
    return AuditOut(entries=[AuditEntryOut.of(e) for e in page.entries], next_page_token=page.next_page_token)


@router.get("/doors", response_model=DoorsOut)
def list_doors(request: Request, caller: Caller = Depends(needs("admin", "AdminService/ListDoors"))) -> DoorsOut:
    """Every door's rule, by name, with when its client last passed someone (scope admin)."""
    return DoorsOut(doors=[DoorOut.of(r) for r in admin(request).list_doors()])


@router.put("/doors/{name}", response_model=DoorOut)
def set_door(request: Request, rule: DoorRule, name: str = NAME,
             caller: Caller = Depends(needs("admin", "AdminService/SetDoor"))) -> DoorOut:
    """Create or replace a door's rule: the groups it admits, its weekly hours in its time zone, the fallback note
    shown on a denial (scope admin; 400 for a bad name, group, hours or time zone)."""
    try:
        record = admin(request).set_door(DoorRecord(name, tuple(rule.groups), rule.hours, rule.timezone, rule.fallback))
    except Exception as error:
        audit(request, caller, "AdminService/SetDoor", door=name[:64], decision=failed_decision(error))
        raise
    audit(request, caller, "AdminService/SetDoor", door=name[:64], decision="door_set",
          detail=f"groups {','.join(record.groups)[:60] or '-'}; hours {record.hours[:50] or 'always'}")
    return DoorOut.of(record)


@router.delete("/doors/{name}", response_model=DoorOut)
def delete_door(request: Request, name: str = NAME,
                caller: Caller = Depends(needs("admin", "AdminService/DeleteDoor"))) -> DoorOut:
    """Remove a door's rule; the rule removed (scope admin; 404: no such door)."""
    try:
        record = admin(request).delete_door(name)
    except Exception as error:
        audit(request, caller, "AdminService/DeleteDoor", door=name[:64], decision=failed_decision(error))
        raise
    audit(request, caller, "AdminService/DeleteDoor", door=name[:64], decision="door_deleted")
    return DoorOut.of(record)
