"""The console's Door page: what the doors decided, live, from the audit log; the doors and their rules; the doors
whose client has gone silent; a door's last hour; and, only where the operator keeps them, probe thumbnails.

Decisions are the audit log's Pass entries (newest first), so the page shows what every server decided, whichever
transport the door used. The live list is a fragment (/ui/live/door) the page's script loads again every few
seconds with the page's filters. Thumbnails are biometric data: served to admin sessions only, never cached, and
their viewing is audited once per session every few minutes (a live list loads them every few seconds).
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from fastapi import Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from ...domain.door_pass import PassReason
from ...domain.door_watch import SILENT, watch_doors
from ...domain.groups import door_name
from ...store.audit import AuditEntry
from ..routes import audit, core
from .frame import page, router, signed_in
from .sessions import Session

router = router()

PASS = "GateService/Pass"
SHOWN = 50  # decisions in a live list
LIVE_DAYS = 7  # how far back the live list looks
HOUR_MAX = 5000  # decisions of a door's last hour counted
VIEW_AUDIT_EVERY_S = 600.0  # a session's viewing of thumbnails is audited at most this often
_LIVENESS = re.compile(r"liveness ([A-Z_]+) (-?[0-9.]+)")


@dataclass(frozen=True)
class Decision:
    """One Pass as the page shows it."""

    entry: AuditEntry
    when: str  # the server's local time: to the second today, to the minute before
    iso: str
    liveness: str  # "LIVE 0.97", or "" where not checked
    thumbnail: str  # the probe thumbnail's URL, or "" where none is shown

    @property
    def accepted(self) -> bool:
        """Whether the door let them in."""
        return self.entry.decision == "accept"


def _filters(door: str, subject: str, reason: str) -> dict[str, str]:
    """The filters as given (checked: a door name, a subject id of at most 128 characters, a reason's name)."""
    if door:
        door_name(door)
    if reason and reason not in PassReason.__members__:
        reason = ""
    return {"door": door, "subject": subject[:128], "reason": reason}


def _decisions(request: Request, entries: list[AuditEntry]) -> list[Decision]:
    gate = core(request).gate
    kept = gate.kept_probe_thumbnails([e.probe for e in entries if e.probe]) if gate is not None and \
        gate.keeps_probe_thumbnails() else set()
    today = datetime.now().date()
    shown = []
    for entry in entries:
        found = _LIVENESS.search(entry.detail)
        when = datetime.fromtimestamp(entry.time)
        shown.append(Decision(entry, when.strftime("%H:%M:%S" if when.date() == today else "%Y-%m-%d %H:%M"),
                              when.astimezone().isoformat(timespec="seconds"),
                              f"{found.group(1)} {float(found.group(2)):.2f}" if found else "",
                              f"/ui/door/probe/{entry.probe}" if entry.probe in kept else ""))
    return shown


def _recent(request: Request, filters: dict[str, str], since: float, limit: int) -> list[AuditEntry]:
    admin = core(request).admin
    if admin is None:
        return []
    return admin.recent_audit(PASS, filters["door"], filters["subject"], filters["reason"], since, limit)


def _no_admin(request: Request, session: Session) -> HTMLResponse | None:
    if core(request).admin is None:
        return page(request, "refused.html", session, status=501,
                    message="This server keeps no audit log or doors (its role serves other calls).")
    return None


@router.get("/door", response_class=HTMLResponse)
def door_page(request: Request, door: str = Query("", max_length=64), subject: str = Query("", max_length=256),
              reason: str = Query("", max_length=32), session: Session = Depends(signed_in("admin"))) -> HTMLResponse:
    """Every door's decisions, live and filtered; the doors with their rules; the silent ones."""
    refused = _no_admin(request, session)
    if refused is not None:
        return refused
    filters = _filters(door, subject, reason)
    now = time.time()
    doors = core(request).admin.list_doors()
    silent_min = request.app.state.console.silent_door_min
    watched = watch_doors(doors, now, silent_min)
    decisions = _decisions(request, _recent(request, filters, now - LIVE_DAYS * 86400, SHOWN))
    return page(request, "door.html", session, filters=filters, decisions=decisions, doors=watched,
                silent=[w for w in watched if w.state == SILENT], silent_min=silent_min, reasons=list(PassReason.__members__),
                thumbnail_days=_thumbnail_days(request), live_url="/ui/live/door", shown=SHOWN, live_days=LIVE_DAYS)


@router.get("/live/door", response_class=HTMLResponse)
def door_live(request: Request, door: str = Query("", max_length=64), subject: str = Query("", max_length=256),
              reason: str = Query("", max_length=32), session: Session = Depends(signed_in("admin"))) -> HTMLResponse:
    """The live list's fragment: the newest decisions with the page's filters."""
    filters = _filters(door, subject, reason)
    decisions = _decisions(request, _recent(request, filters, time.time() - LIVE_DAYS * 86400, SHOWN))
    return page(request, "door_decisions.html", session, decisions=decisions, filters=filters, shown=SHOWN)


def _last_hour(request: Request, name: str) -> dict:
    entries = _recent(request, _filters(name, "", ""), time.time() - 3600, HOUR_MAX)
    denied: dict[str, int] = {}
    for entry in entries:
        if entry.decision != "accept":
            denied[entry.reason or entry.decision] = denied.get(entry.reason or entry.decision, 0) + 1
    return {"total": len(entries), "accepted": sum(e.decision == "accept" for e in entries),
            "denied": sorted(denied.items(), key=lambda item: (-item[1], item[0])), "capped": len(entries) == HOUR_MAX,
            "decisions": _decisions(request, entries[:SHOWN]), "shown": SHOWN, "filters": {"door": name}}


@router.get("/door/{name}", response_class=HTMLResponse)
def one_door(request: Request, name: str, session: Session = Depends(signed_in("admin"))) -> HTMLResponse:
    """One door's last hour: accepts, denials by reason, the decisions; its rule and whether it has gone silent."""
    refused = _no_admin(request, session)
    if refused is not None:
        return refused
    name = door_name(name)
    silent_min = request.app.state.console.silent_door_min
    watched = {w.door.name: w for w in watch_doors(core(request).admin.list_doors(), time.time(), silent_min)}
    return page(request, "door_one.html", session, name=name, watched=watched.get(name), silent_min=silent_min,
                live_url=f"/ui/live/door/{name}", thumbnail_days=_thumbnail_days(request), **_last_hour(request, name))


@router.get("/live/door/{name}", response_class=HTMLResponse)
def one_door_live(request: Request, name: str, session: Session = Depends(signed_in("admin"))) -> HTMLResponse:
    """A door's last hour as a fragment, for its page's live refresh."""
    return page(request, "door_hour.html", session, name=door_name(name), **_last_hour(request, name))


def _thumbnail_days(request: Request) -> float:
    gate = core(request).gate
    return gate.keeps_probe_thumbnails() if gate is not None else 0.0


_viewed: dict[str, float] = {}  # session id -> when its viewing of thumbnails was last audited
_viewed_lock = threading.Lock()


def _audit_viewing(request: Request, session: Session) -> None:
    """Audit that this session looks at probe thumbnails, at most once per VIEW_AUDIT_EVERY_S."""
    now = time.monotonic()
    with _viewed_lock:
        if now - _viewed.get(session.session_id, -VIEW_AUDIT_EVERY_S) < VIEW_AUDIT_EVERY_S:
            return
        if len(_viewed) > 10_000:
            _viewed.clear()
        _viewed[session.session_id] = now
    audit(request, session.caller, "Console/ProbeThumbnails", decision="viewed")


@router.get("/door/probe/{probe_id}")
def probe_thumbnail(request: Request, probe_id: str, session: Session = Depends(signed_in("admin"))) -> Response:
    """A probe thumbnail (admin sessions only; never cached); 404 where none is kept."""
    gate = core(request).gate
    jpeg = gate.probe_thumbnail(probe_id) if gate is not None else None
    if jpeg is None:
        return Response(status_code=404, headers={"Cache-Control": "no-store"})
    _audit_viewing(request, session)
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})
