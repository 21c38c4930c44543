"""The console's Keys page: every API key with its scopes, door, creation and last use; make one, revoke one.

A new key is shown once, on the page the form's POST answers (never in a URL, a redirect, a log or the audit log;
that page is not cached); only its SHA-256 is stored. Revoking a key refuses it from the next call on and ends
every console session signed in with it. Both changes are audited with the session's key name, as over gRPC
(admin_calls.py).
"""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from ...domain.keys import SCOPES
from .. import admin_calls
from ..routes import core
from . import formats  # noqa: F401 - the templates' time filters
from .frame import back_to, checked_form, page, router, signed_in, text_of
from .sessions import Session

router = router()

SCOPE_HELP = {
    "gate": "verify, identify, a door's Pass",
    "enroll": "enroll, update and forget subjects",
    "library": "photo libraries: index, search, groups",
    "embed": "vectors of one's own photos and texts",
    "admin": "keys, audit log, doors",
}


def _listing(request: Request, session: Session, status: int = 200, error: str = "", form: dict | None = None) -> HTMLResponse:
    admin = core(request).admin
    if admin is None:
        return page(request, "refused.html", session, status=501,
                    message="This server keeps no keys (its role serves other calls).")
    keys = sorted(admin.list_keys(), key=lambda k: (k.revoked, k.name))
    return page(request, "keys.html", session, status=status, keys=keys, scopes=SCOPES, scope_help=SCOPE_HELP,
                doors=[d.name for d in admin.list_doors()], form_error=error, form=form or {})


@router.get("/keys", response_class=HTMLResponse)
def keys_page(request: Request, session: Session = Depends(signed_in("admin"))) -> HTMLResponse:
    """Every key (live ones first) and the form that makes one."""
    return _listing(request, session)


@router.post("/keys/create", response_class=HTMLResponse)
async def create_key(request: Request, session: Session = Depends(signed_in("admin"))) -> HTMLResponse:
    """Make a key; the answer shows it once."""
    form = await checked_form(request, session)
    name = text_of(form, "name", required=True, max_length=128)
    scopes = [s for s in form.getlist("scopes") if isinstance(s, str)]
    door = text_of(form, "door", max_length=64)
    try:
        key, record = admin_calls.create_key(request, session.caller, name, scopes, door)
    except (ValueError, LookupError) as error:  # a bad name, scope or door, a name taken: the form again, saying why
        return _listing(request, session, status=400, error=str(error)[:300],
                        form={"name": name, "scopes": scopes, "door": door})
    response = page(request, "key_created.html", session, key=key, record=record)
    response.headers["Cache-Control"] = "no-store"  # the key is on this page: no copy in any cache
    return response


@router.post("/keys/revoke")
async def revoke_key(request: Request, session: Session = Depends(signed_in("admin"))):
    """Revoke a key (the page asks first); its sessions end."""
    form = await checked_form(request, session)
    name = text_of(form, "name", required=True, max_length=128)
    record = admin_calls.revoke_key(request, session.caller, name)
    if record.name == session.caller.key_name:
        return back_to("/ui", note=f"Key {record.name} is revoked: this session used it and has ended.")
    return back_to("/ui/keys", note=f"Key {record.name} is revoked: refused from now on, and its console sessions ended.")
