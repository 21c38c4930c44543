"""What every console page shares: the session of the request, the CSRF check of forms, and rendering.

Pages are server-rendered HTML (Jinja2, escaped by default) with a small script of our own for live lists and the
webcam (static/console.js); nothing is fetched from another host, so the console works offline. A page asks for its
scope with `signed_in("enroll")`: no session sends the browser to the sign-in page, a session without the scope gets
a 403 page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from ...domain.error_kinds import caller_message, http_status_of, kind_of, log_failure
from ...domain.errors import BadRequest
from ..forms import read_form
from ..routes import AnsweringRoute
from .sessions import COOKIE, Session, Sessions, csrf_matches

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))

# The console's sections: (path, title, scope needed to see it). The navigation shows those the session may open.
SECTIONS = (
    ("/ui/door", "Door", "admin"),
    ("/ui/people", "People", "enroll"),
    ("/ui/library", "Photo library", "library"),
    ("/ui/keys", "Keys", "admin"),
    ("/ui/models", "Models", "embed"),
    ("/ui/health", "Health", None),
)


class SignInNeeded(Exception):
    """No live session: the browser goes to the sign-in page (the app's handler redirects)."""

    def __init__(self, next_path: str) -> None:
        super().__init__("sign in")
        self.next_path = next_path


class NotAllowed(Exception):
    """A session whose key lacks the page's scope (the app's handler answers a 403 page)."""

    def __init__(self, scope: str) -> None:
        super().__init__(scope)
        self.scope = scope


class BadForm(Exception):
    """A form without the session's CSRF token, or sent from another site (answered 403)."""


class ConsoleRoute(AnsweringRoute):
    """A console route whose typed errors become a page saying what went wrong (status from the error table)."""

    passed = (SignInNeeded, NotAllowed, BadForm)

    def answer(self, request: Request, error: Exception) -> HTMLResponse:
        """A page with what the caller is told of the error; logged where the server is at fault."""
        kind = kind_of(error)
        log_failure(self.name, error, kind)
        return page(request, "refused.html", session_of(request), status=http_status_of(error, kind),
                    message=caller_message(error, kind))


def router() -> APIRouter:
    """A router of console pages (not in /openapi.json: the API's description is for programs)."""
    return APIRouter(prefix="/ui", include_in_schema=False, route_class=ConsoleRoute)


def sessions_of(request: Request) -> Sessions:
    """The server's console sessions."""
    return request.app.state.sessions


def session_of(request: Request) -> Session | None:
    """The request's live session, or None."""
    return sessions_of(request).get(request.cookies.get(COOKIE))


def signed_in(scope: str | None = None) -> Callable[[Request], Session]:
    """A dependency: the request's session, holding `scope` where one is named."""

    def checked(request: Request) -> Session:
        session = session_of(request)
        if session is None:
            raise SignInNeeded(request.url.path)
        if scope is not None and not session.may(scope):
            raise NotAllowed(scope)
        return session

    checked.__name__ = f"signed_in_{scope or 'any'}"
    return checked


def _same_origin(request: Request) -> bool:
    """Whether a state-changing request comes from this site (Origin, else Referer; a browser sends one of them)."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin:
        return True  # not a browser's cross-site form (those carry Origin); the CSRF token still has to match
    return urlsplit(origin).netloc == request.headers.get("host", "")


async def checked_form(request: Request, session: Session, max_files: int = 0, max_part_bytes: int = 1_000_000) -> FormData:
    """The form of a POST from a page of this console: same origin, the session's CSRF token (BadForm otherwise)."""
    if not _same_origin(request):
        raise BadForm("this form was sent from another site")
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await read_form(request, max_files, max_part_bytes)
    else:
        form = await request.form(max_files=0, max_fields=64, max_part_size=64_000)
    if not csrf_matches(session, form.get("csrf") or request.headers.get("x-csrf-token")):
        raise BadForm("the form's security token does not match your session: reload the page and try again")
    return form


def text_of(form: FormData, name: str, required: bool = False, max_length: int = 256) -> str:
    """A text field of a console form."""
    value = form.get(name)
    if not isinstance(value, str) or not value.strip():
        if required:
            raise BadRequest(f"{name.replace('_', ' ')} is required")
        return ""
    if len(value) > max_length:
        raise BadRequest(f"{name.replace('_', ' ')} is longer than {max_length} characters")
    return value.strip()


def page(request: Request, template: str, session: Session | None, status: int = 200, **context) -> HTMLResponse:
    """A rendered page with the navigation of the session's sections."""
    sections = [(path, title) for path, title, scope in SECTIONS if session is not None and (scope is None or session.may(scope))]
    return templates.TemplateResponse(request, template, {"session": session, "sections": sections, "path": request.url.path,
                                                          **context}, status_code=status)


def back_to(path: str, note: str = "", error: str = "") -> RedirectResponse:
    """After a form: back to a page (303), with a note or an error to show there."""
    query = "&".join(f"{k}={quote(v[:300])}" for k, v in (("note", note), ("error", error)) if v)
    return RedirectResponse(path + (("?" if "?" not in path else "&") + query if query else ""), status_code=303)
