"""The console's Health page, for any signed-in session: Redis up, how much is stored, version, uptime, TLS."""

from __future__ import annotations

import logging
import time

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from ..routes import core
from . import formats  # noqa: F401 - the templates' time filters
from .frame import page, router, sessions_of, signed_in
from .sessions import Session

log = logging.getLogger("facegrid.server")
router = router()


def _counts(request: Request) -> dict[str, int | None]:
    """Subjects, photo collections, doors and live keys; None for what this server does not hold or cannot read now."""
    here = core(request)
    counts: dict[str, int | None] = {"subjects": None, "collections": None, "doors": None, "live keys": None}
    try:
        if here.gate is not None:
            counts["subjects"] = here.gate.subjects.count_subjects()
        if here.library is not None:
            counts["collections"] = len(here.library.library.collections.names())
        if here.admin is not None:
            counts["doors"] = len(here.admin.list_doors())
            counts["live keys"] = sum(not k.revoked for k in here.admin.list_keys())
    except Exception as error:  # noqa: BLE001 - Redis down: the page says so rather than failing
        log.warning("health page: counts unavailable: %s: %s", type(error).__name__, error)
    return counts


@router.get("/health", response_class=HTMLResponse)
def health_page(request: Request, session: Session = Depends(signed_in())) -> HTMLResponse:
    """Whether the system of record answers, counts, version, uptime and whether this connection is TLS."""
    here = core(request)
    parts = [name for name, part in (("gate", here.gate), ("photo library", here.library), ("administration", here.admin),
                                     ("models", here.embedder)) if part is not None]
    return page(request, "health.html", session, redis_up=bool(request.app.state.healthy()), counts=_counts(request),
                version=request.app.version, uptime_s=time.time() - request.app.state.started,
                started=request.app.state.started, tls=request.url.scheme == "https", parts=parts,
                sessions=sessions_of(request).count())
