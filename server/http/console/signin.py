"""Signing in and out of the console, and its front page."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from ...domain.callers import NotAuthenticated
from ..access import peer_of
from ..routes import audit
from .frame import BadForm, checked_form, page, router, session_of, sessions_of, signed_in, text_of
from .sessions import COOKIE, Session

router = router()


def _safe_next(path: str) -> str:
    """Only a console path of this site (no open redirect)."""
    return path if path.startswith("/ui/") and not path.startswith("//") and "\\" not in path else "/ui/home"


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
def front(request: Request, next: str = "") -> HTMLResponse:
    """The sign-in page, or the console's home page for a signed-in browser."""
    session = session_of(request)
    if session is not None:
        return RedirectResponse(_safe_next(next or "/ui/home"), status_code=303)
    sessions = sessions_of(request)
    open_now = sessions.open_without_keys and not sessions.keyring.any_keys()
    return page(request, "signin.html", None, next=_safe_next(next) if next else "", open_now=open_now,
                error=request.query_params.get("error", ""), webcam_note=False)


@router.post("/sign-in")
async def sign_in(request: Request):
    """Exchange an API key for a session (the key is checked, never stored; the cookie holds a random id)."""
    form = await request.form(max_files=0, max_fields=8, max_part_size=8_000)
    origin = request.headers.get("origin")
    if origin and origin.split("://", 1)[-1] != request.headers.get("host", ""):
        raise BadForm("sign-in sent from another site")
    key = text_of(form, "key", max_length=200)
    sessions = sessions_of(request)
    try:
        session = sessions.open(key, peer_of(request))
    except NotAuthenticated as refused:
        access = request.app.state.access
        access.refused(request, refused, "Console/SignIn")  # counted and audited like any failed key
        return page(request, "signin.html", None, status=401, next=text_of(form, "next", max_length=200),
                    open_now=sessions.open_without_keys and not sessions.keyring.any_keys(),
                    error="That key is not valid (unknown or revoked)." if key else "Enter an API key.")
    audit(request, session.caller, "Console/SignIn", decision="signed_in")
    response = RedirectResponse(_safe_next(text_of(form, "next", max_length=200)), status_code=303)
    response.set_cookie(COOKIE, session.session_id, httponly=True, samesite="strict", path="/ui",
                        secure=request.url.scheme == "https")
    return response


@router.post("/sign-out")
async def sign_out(request: Request, session: Session = Depends(signed_in())):
    """End this browser's session."""
    await checked_form(request, session)
    sessions_of(request).close(session.session_id)
    audit(request, session.caller, "Console/SignOut", decision="signed_out")
    response = RedirectResponse("/ui", status_code=303)
    response.delete_cookie(COOKIE, path="/ui")
    return response


@router.get("/home", response_class=HTMLResponse)
def home(request: Request, session: Session = Depends(signed_in())) -> HTMLResponse:
    """Where each section is, for what this key may do."""
    return page(request, "home.html", session)
