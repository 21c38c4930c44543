"""The REST API (and the console) as one ASGI app over the service core, in the server's own process.

Routes under /v1 mirror the gRPC services; each calls the same ServiceCore method as its gRPC twin (no gRPC hop),
with the same scope, so the two cannot drift. Failures are problem+json with the gRPC code and reason
(problems.py); a request without a key gets 401 before any 404 or 405 once keys are required, so paths and methods
are not told to strangers. /openapi.json holds the API's routes alone; /docs is Swagger UI from an installed
package (no CDN: the machine may be offline).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote
from typing import Callable

from fastapi import Depends, FastAPI, Request
from prometheus_client import CollectorRegistry, generate_latest
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..domain.call_slots import CallClass
from ..domain.callers import NotAuthenticated
from ..domain.core import ServiceCore
from ..domain.error_kinds import ErrorKind
from . import problems
from .access import AccessRefused, HttpAccess
from .limits import BodyLimit
from .metrics import HttpMetrics
from .console.frame import BadForm, NotAllowed, SignInNeeded, page, session_of
from .console.sessions import Sessions
from .console.settings import ConsoleSettings
from .routes import needs

log = logging.getLogger("facegrid.server")

# Open to anyone: load balancers' health checks, the API's description, its docs page and the console's sign-in.
OPEN_PATHS = ("/healthz", "/openapi.json", "/docs", "/docs/", "/ui", "/ui/")
OPEN_PREFIXES = ("/docs/static/", "/ui/static/", "/ui/sign-in")


@dataclass(frozen=True)
class HttpLimits:
    """What one request may carry."""

    max_body_bytes: int = 64 * 1024 * 1024  # the whole body (gRPC's max message size: FACEGRID_MAX_MESSAGE_MB)
    max_photo_bytes: int = 20_000_000  # one photo (the decoder's own limit)


def _version() -> str:
    try:
        return importlib.metadata.version("facegrid")
    except importlib.metadata.PackageNotFoundError:
        return "0"


def _swagger_assets() -> Path | None:
    """Swagger UI 5 as the fastapi-offline package ships it (OpenAPI 3.1), or None where it is not installed."""
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "static"
    return folder if (folder / "swagger-ui-bundle.js").is_file() else None


def add_console(app: FastAPI, routers: tuple) -> None:
    """The console's pages, its static files, and where a browser without a session (or scope) is sent."""
    app.mount("/ui/static", StaticFiles(directory=Path(__file__).parent / "console" / "static"), name="console-static")
    for router in routers:
        app.include_router(router)

    @app.exception_handler(SignInNeeded)
    async def sign_in_first(request: Request, error: SignInNeeded) -> RedirectResponse:
        return RedirectResponse(f"/ui?next={quote(error.next_path)}", status_code=303)

    @app.exception_handler(NotAllowed)
    async def not_allowed(request: Request, error: NotAllowed) -> HTMLResponse:
        return page(request, "refused.html", session_of(request), status=403,
                    message=f"Your key may not open this page: it needs scope {error.scope}.")

    @app.exception_handler(BadForm)
    async def bad_form(request: Request, error: BadForm) -> HTMLResponse:
        return page(request, "refused.html", session_of(request), status=403, message=str(error))


def create_app(core: ServiceCore, access: HttpAccess, limits: HttpLimits = HttpLimits(),
               healthy: Callable[[], bool] = lambda: True, registry: CollectorRegistry | None = None,
               call_classes: dict[str, CallClass] | None = None, console: ConsoleSettings = ConsoleSettings(),
               library_root: str = "") -> FastAPI:
    """The app: /v1 routes over `core`, /healthz, /metrics of `registry` (scope admin; HTTP requests are counted
    there too), /openapi.json, /docs and the console; `library_root`: the folder whose photos the console may show
    (FACEGRID_LIBRARY_ROOT; "": none)."""
    from . import admin_routes, encoder_routes, gate_routes, library_routes
    from .console import door, health, keys, library, models, people, roster, signin

    app = FastAPI(title="facegrid", version=_version(), openapi_url="/openapi.json", docs_url=None, redoc_url=None,
                  description="Face verification and identification at the gate, photo libraries and vector search. "
                              "Send an API key as `Authorization: Bearer <key>`; errors are application/problem+json.")
    app.state.core, app.state.access, app.state.limits = core, access, limits
    app.state.sessions = Sessions(access.keyring, access.open_without_keys)
    app.state.call_classes = call_classes or {}  # the stream and long-call slots, shared with gRPC's Admission
    app.state.console, app.state.healthy, app.state.started = console, healthy, time.time()
    app.state.library_root = Path(library_root).expanduser().resolve() if library_root else None

    @app.exception_handler(AccessRefused)
    async def refused(request: Request, error: AccessRefused) -> JSONResponse:
        return error.response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return problems.of_kind(ErrorKind.INVALID_ARGUMENT, f"{where}: {first.get('msg', 'invalid request')}"[:300])

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        # A stranger learns nothing about paths or methods: 401 first where keys are required.
        path = request.url.path
        if path.startswith("/ui/") and error.status_code in (404, 405):  # a browser: sign in first, else a page
            if session_of(request) is None:
                return RedirectResponse("/ui", status_code=303)
            return page(request, "refused.html", session_of(request), status=error.status_code, message="No such page.")
        if error.status_code in (404, 405) and path not in OPEN_PATHS and not path.startswith(OPEN_PREFIXES):
            try:
                await run_in_threadpool(access.caller, request)  # may read Redis: never on the event loop
            except NotAuthenticated as refused_:
                return access.refused(request, refused_, f"HTTP {request.method}")
        code = {404: "NOT_FOUND", 405: "UNIMPLEMENTED", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED"}.get(
            error.status_code, "INVALID_ARGUMENT")
        return problems.problem(error.status_code, code, str(error.detail), headers=getattr(error, "headers", None))

    for router in (gate_routes.router, library_routes.router, admin_routes.router, encoder_routes.router):
        app.include_router(router)
    add_console(app, (signin.router, door.router, keys.router, models.router, health.router, roster.router, people.router,
                      library.router))

    @app.get("/healthz", tags=["health"], response_class=JSONResponse,
             responses={503: {"description": "Redis, the system of record, does not answer"}})
    def health() -> JSONResponse:
        """SERVING while the system of record answers; open to anyone (load balancers hold no key)."""
        serving = healthy()
        return JSONResponse({"status": "SERVING" if serving else "NOT_SERVING"}, status_code=200 if serving else 503)

    if registry is not None:
        @app.get("/metrics", tags=["health"], response_class=PlainTextResponse, responses=problems.PROBLEM_RESPONSES)
        def metrics(caller=Depends(needs("admin", "AdminService/Metrics"))) -> PlainTextResponse:
            """Prometheus metrics of this server (scope admin)."""
            return PlainTextResponse(generate_latest(registry), media_type="text/plain; version=0.0.4")

    assets = _swagger_assets()
    if assets is not None:
        app.mount("/docs/static", StaticFiles(directory=assets), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        if assets is None:
            return HTMLResponse("<p>Swagger UI is not installed (pip install fastapi-offline); the API is described at "
                                "<a href='/openapi.json'>/openapi.json</a>.</p>")
        return get_swagger_ui_html(openapi_url="/openapi.json", title="facegrid API",
                                   swagger_js_url="/docs/static/swagger-ui-bundle.js",
                                   swagger_css_url="/docs/static/swagger-ui.css", swagger_favicon_url="/docs/static/favicon.png")

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = problems.tidy_openapi(get_openapi(title=app.title, version=app.version,
                                                                   description=app.description, routes=app.routes))
        return app.openapi_schema

    app.openapi = openapi
    app.add_middleware(BodyLimit, limit=limits.max_body_bytes)
    if registry is not None:
        app.add_middleware(HttpMetrics, registry=registry)  # outermost: refusals for size are counted too
    return app
