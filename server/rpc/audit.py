"""What goes into the audit log from each audited RPC (the entry itself is store/audit.py's AuditEntry).

Audited: Verify, Identify, Enroll, Forget, UpdateSubject and every door's Pass (decisions and
changes at the gate; Pass with its door and reason), key and door changes, and every call
refused by the key check (no key, a bad or revoked key, a missing scope, a door key's other door) with
its peer and method. Anyone can send refused calls, so they are written at a bounded rate
(auth_failures.py: a few per peer host and minute one by one, the rest in a summary per minute).

The entry is queued after the call's outcome is known and written in the background
(one XADD, pipelined with the others of the next ~50 ms: store/background.py), so the gate
answers no later for it; an entry that cannot be written is logged and the call is not failed.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import grpc

from facegrid.v1 import gate_pb2

from ..domain.enrollment import subject_of
from ..store.audit import AuditEntry, AuditStore
from ..store.background import BackgroundWrites
from .auth import Caller, rpc_name

_MAX_TEXT = 130  # a subject id is at most 128 characters; longer text in a request is cut, not stored whole


def _verify(request, reply) -> dict:
    fields = {"subject_id": subject_of(request.subject_id)}
    if reply is not None:
        fields.update(decision="match" if reply.match else "no_match", score=reply.decision.score, threshold=reply.decision.threshold)
    return fields


def _identify(request, reply) -> dict:
    if reply is None:
        return {}
    fields = {"subject_id": reply.subject_id, "decision": "known" if reply.known else "unknown"}
    if reply.HasField("decision"):
        fields.update(score=reply.decision.score, threshold=reply.decision.threshold)
    if not reply.known and reply.reason:
        fields["detail"] = reply.reason[:_MAX_TEXT]
    return fields


def _enroll(request, reply) -> dict:
    fields = {"subject_id": subject_of(request.subject_id), "detail": f"{len(request.photos)} photos"
              + (", replace" if request.replace else "")}
    if reply is not None:
        accepted = sum(o.accepted for o in reply.photos)
        duplicates = sum(o.duplicate for o in reply.photos)
        unlike = sum(o.issue == gate_pb2.NOT_LIKE_SUBJECT for o in reply.photos)
        resembling = sorted({o.resembles for o in reply.photos if o.resembles})
        fields.update(subject_id=reply.subject_id, decision="replaced" if reply.templates_removed else "enrolled",
                      detail=f"{accepted} of {len(reply.photos)} photos accepted ({duplicates} already enrolled), "
                             f"{reply.templates} templates"
                             + (f", {reply.templates_removed} older removed" if reply.templates_removed else "")
                             + (f", {unlike} refused NOT_LIKE_SUBJECT" if unlike else "")
                             + (f", resembles {','.join(resembling)[:40]}" if resembling else ""))
        if unlike:
            fields["reason"] = "NOT_LIKE_SUBJECT"
    return fields


def refused_enrollment(outcomes: list) -> dict:
    """The audit fields of an Enroll call none of whose photos was accepted (domain PhotoOutcomes): why, per issue."""
    issues = sorted({o.issue.value for o in outcomes if o.issue is not None})
    fields = {"decision": "refused", "detail": f"{len(outcomes)} photos refused: {', '.join(issues)[:80] or 'no reason'}"}
    if "NOT_LIKE_SUBJECT" in issues:
        fields["reason"] = "NOT_LIKE_SUBJECT"
    return fields


def _forget(request, reply) -> dict:
    fields = {"subject_id": subject_of(request.subject_id)}
    if reply is not None:
        fields.update(decision="forgotten", detail=f"{reply.templates_removed} templates removed")
    return fields


def _pass(request, reply) -> dict:
    # The door as sent (cut short: a bad name is refused, but still audited); the person recognised, if anyone.
    fields = {"door": request.door[:64], "detail": f"{len(request.frames)} frames" + (
        f", track {request.track[:32]!r}" if request.track else "") + (", card" if request.subject_id else "")}
    if reply is not None:
        fields.update(subject_id=reply.subject_id, decision="accept" if reply.decision == gate_pb2.ACCEPT else "deny",
                      reason=gate_pb2.PassReason.Name(reply.reason))
        if reply.liveness:
            fields["detail"] += f", liveness {gate_pb2.Liveness.Name(reply.liveness)} {reply.liveness_score:.2f}"
    return fields


def _update_subject(request, reply) -> dict:
    fields = {"subject_id": subject_of(request.subject_id)}
    if reply is not None:
        fields.update(decision="updated", detail=f"groups {','.join(reply.groups)[:80] or '-'}; "
                      f"{gate_pb2.SubjectStatus.Name(reply.status)}; expires {reply.expires_at:.0f}")
    return fields


def _set_door(request, reply) -> dict:
    fields = {"door": request.name[:64]}
    if reply is not None:
        fields.update(decision="door_set", detail=f"groups {','.join(reply.groups)[:60] or '-'}; hours {reply.hours[:50] or 'always'}")
    return fields


def _delete_door(request, reply) -> dict:
    fields = {"door": request.name[:64]}
    if reply is not None:
        fields["decision"] = "door_deleted"
    return fields


def _create_key(request, reply) -> dict:
    scopes = reply.record.scopes if reply is not None else request.scopes
    fields = {"detail": f"key {request.name[:_MAX_TEXT]!r} scopes {','.join(s[:20] for s in list(scopes)[:10])}"
                        + (f" door {request.door[:64]!r}" if request.door else "")}
    if reply is not None:
        fields["decision"] = "created"
    return fields


def _revoke_key(request, reply) -> dict:
    fields = {"detail": f"key {request.name[:_MAX_TEXT]!r}"}
    if reply is not None:
        fields["decision"] = "revoked"
    return fields


def _correct(request, reply) -> dict:
    # Only naming a group is a gate change; merges and splits are not audited (see AUDITED_WHEN).
    fields = {"subject_id": subject_of(request.name.subject_id), "detail": f"named group {request.name.group_id} "
              f"of collection {request.collection[:64]!r}"}
    if reply is not None:
        fields["decision"] = "named"
    return fields


# RPC -> fields of its entry from (request, reply or None when it failed).
AUDITED: dict[str, Callable[[object, object], dict]] = {
    "/facegrid.v1.GateService/Verify": _verify,
    "/facegrid.v1.GateService/Identify": _identify,
    "/facegrid.v1.GateService/Enroll": _enroll,
    "/facegrid.v1.GateService/Forget": _forget,
    "/facegrid.v1.GateService/Pass": _pass,
    "/facegrid.v1.GateService/UpdateSubject": _update_subject,
    "/facegrid.v1.AdminService/SetDoor": _set_door,
    "/facegrid.v1.AdminService/DeleteDoor": _delete_door,
    "/facegrid.v1.IndexService/Correct": _correct,
    "/facegrid.v1.AdminService/CreateKey": _create_key,
    "/facegrid.v1.AdminService/RevokeKey": _revoke_key,
}
# RPCs audited only for some requests.
AUDITED_WHEN: dict[str, Callable[[object], bool]] = {
    "/facegrid.v1.IndexService/Correct": lambda request: request.WhichOneof("action") == "name",
}


class Auditor:
    """Turns audited calls into entries and queues them for the background writer."""

    def __init__(self, store: AuditStore, writes: BackgroundWrites) -> None:
        self.store = store
        self.writes = writes

    def audits(self, method: str) -> bool:
        """Whether calls of this method go into the audit log."""
        return method in AUDITED

    def record(self, entry: AuditEntry) -> None:
        """Queue one entry (never raises)."""
        self.writes.submit(partial(self.store.append, entry=entry))

    def ended(self, method: str, caller: Caller, request, reply, code: grpc.StatusCode, noted: dict | None = None) -> None:
        """An audited call is over: its outcome (reply) or the status it failed with; `noted`: what the handler added
        that the reply does not carry (auth.note_audit)."""
        if method in AUDITED_WHEN and not AUDITED_WHEN[method](request):
            return
        fields = AUDITED[method](request, reply if code is grpc.StatusCode.OK else None)
        fields.update(noted or {})
        fields.setdefault("decision", code.name)
        self.record(AuditEntry(key_name=caller.key_name, rpc=rpc_name(method), peer=caller.peer, **fields))

    def denied(self, method: str, caller: Caller, request, code: grpc.StatusCode, why: str = "") -> None:
        """A call refused by the key check (`caller` with no key name where no live key was presented); `why` in a few
        words: no key, unknown or revoked key, missing scope ..."""
        fields = {}
        if method in AUDITED and request is not None and (method not in AUDITED_WHEN or AUDITED_WHEN[method](request)):
            fields = {k: v for k, v in AUDITED[method](request, None).items() if k in ("subject_id", "detail", "door")}
        if why:
            fields["detail"] = f"{why}: {fields['detail']}"[:_MAX_TEXT] if fields.get("detail") else why
        self.record(AuditEntry(key_name=caller.key_name, rpc=rpc_name(method), decision=code.name, peer=caller.peer, **fields))
