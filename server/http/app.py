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
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..domain.callers import NotAuthenticated
from ..domain.core import ServiceCore
from ..domain.error_kinds import ErrorKind
from . import problems
from .access import AccessRefused, HttpAccess
from .limits import BodyLimit
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


def create_app(core: ServiceCore, access: HttpAccess, limits: HttpLimits = HttpLimits(),
               healthy: Callable[[], bool] = lambda: True, metrics_text: Callable[[], bytes] | None = None) -> FastAPI:
    """The app: /v1 routes over `core`, /healthz, /metrics (scope admin), /openapi.json and /docs."""
    from . import admin_routes, encoder_routes, gate_routes

    app = FastAPI(title="facegrid", version=_version(), openapi_url="/openapi.json", docs_url=None, redoc_url=None,
                  description="Face verification and identification at the gate, photo libraries and vector search. "
                              "Send an API key as `Authorization: Bearer <key>`; errors are application/problem+json.")
    app.state.core, app.state.access, app.state.limits = core, access, limits

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
        if error.status_code in (404, 405) and path not in OPEN_PATHS and not path.startswith(OPEN_PREFIXES):
            try:
                access.caller(request)
            except NotAuthenticated as refused_:
                return access.refused(request, refused_, f"HTTP {request.method}")
        code = {404: "NOT_FOUND", 405: "UNIMPLEMENTED", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED"}.get(
            error.status_code, "INVALID_ARGUMENT")
        return problems.problem(error.status_code, code, str(error.detail), headers=getattr(error, "headers", None))

    for router in (gate_routes.router, admin_routes.router, encoder_routes.router):
        app.include_router(router)

    @app.get("/healthz", tags=["health"], response_class=JSONResponse,
             responses={503: {"description": "Redis, the system of record, does not answer"}})
    def health() -> JSONResponse:
        """SERVING while the system of record answers; open to anyone (load balancers hold no key)."""
        serving = healthy()
        return JSONResponse({"status": "SERVING" if serving else "NOT_SERVING"}, status_code=200 if serving else 503)

    if metrics_text is not None:
        @app.get("/metrics", tags=["health"], response_class=PlainTextResponse, responses=problems.PROBLEM_RESPONSES)
        def metrics(caller=Depends(needs("admin", "AdminService/Metrics"))) -> PlainTextResponse:
            """Prometheus metrics of this server (scope admin)."""
            return PlainTextResponse(metrics_text(), media_type="text/plain; version=0.0.4")

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
    return app
