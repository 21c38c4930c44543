"""The console's Models page: the models this server embeds with (what ListModels and `facegrid models list`
answer), the gate's model and the door's liveness model, and what became of each folder of the models directory."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from ...domain.model_folders import folder_statuses
from ..routes import core
from .frame import page, router, signed_in
from .sessions import Session

router = router()


@router.get("/models", response_class=HTMLResponse)
def models_page(request: Request, session: Session = Depends(signed_in("embed"))) -> HTMLResponse:
    """What is installed and running, and the import status of model folders."""
    here = core(request)
    listed = here.embedder.models() if here.embedder is not None else None
    door = here.gate.door_pass if here.gate is not None else None
    checker = door.checker if door is not None else None
    folders = folder_statuses(here.embedder.registry, checker.name if checker is not None else None) \
        if here.embedder is not None else []
    return page(request, "models.html", session, listed=listed, folders=folders,
                gate_model=here.gate.gate.model if here.gate is not None else "",
                liveness_mode=door.mode.value if door is not None else "", liveness_model=checker.name if checker else "",
                door_unavailable=door.unavailable() if door is not None else "")
