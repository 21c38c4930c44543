"""The console's roster import (scope enroll): a roster CSV and its photos uploaded, enrolled as `facegrid enroll
--roster FILE --photos DIR` would (roster_run.py), and the summary it prints shown."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from ...domain.roster_file import RosterColumns, RosterError, parse_roster
from ..routes import audit
from .answers import uploads
from .frame import back_to, checked_form, page, router, signed_in, text_of
from .roster_run import UploadedPhotos, run_roster
from .sessions import Session

router = router()
MAX_ROSTER_PHOTOS = 300  # a browser's upload; a campus goes through `facegrid enroll --roster`
MAX_ROSTER_BYTES = 5_000_000
ENROLL = signed_in("enroll")
PATH = "/ui/people/roster"


@router.get("/people/roster", response_class=HTMLResponse)
def roster_form(request: Request, session: Session = Depends(ENROLL)) -> HTMLResponse:
    """The upload form."""
    return page(request, "roster.html", session, summary=None, max_photos=MAX_ROSTER_PHOTOS, columns=RosterColumns())


@router.post("/people/roster", response_class=HTMLResponse)
async def roster_import(request: Request, session: Session = Depends(ENROLL)) -> HTMLResponse:
    """Read the roster, enroll what it holds from the uploaded photos, and show the summary."""
    form = await checked_form(request, session, MAX_ROSTER_PHOTOS + 1, request.app.state.limits.max_photo_bytes)
    files = await uploads(form, "roster")
    if len(files) != 1:
        return back_to(PATH, error="Choose the roster file (a CSV with a header row).")
    if len(files[0].data) > MAX_ROSTER_BYTES:
        return back_to(PATH, error=f"The roster is larger than {MAX_ROSTER_BYTES // 1_000_000} MB: use `facegrid enroll --roster`.")
    given = {kind: text_of(form, f"{kind}_column", max_length=64) for kind in ("id", "name", "photo", "groups")}
    defaults = RosterColumns()
    columns = RosterColumns(*(given[kind] or getattr(defaults, kind) for kind in ("id", "name", "photo", "groups")))
    required = frozenset({"id", "photo"} | {kind for kind in ("name", "groups") if given[kind]})
    try:
        roster = parse_roster(files[0].data, files[0].name, columns=columns, required=required)
    except RosterError as error:
        return back_to(PATH, error=str(error))
    photos = UploadedPhotos(await uploads(form, "photos"))
    dry_run = text_of(form, "dry_run", max_length=8) in ("on", "1", "yes", "true")
    summary = await run_roster(request, session.caller, roster, photos, dry_run)
    audit(request, session.caller, "Console/RosterImport", decision="dry_run" if dry_run else "imported",
          detail=f"{files[0].name[:40]!r}: {summary.subjects} subjects, {summary.enrolled} photos enrolled, "
                 f"{len(summary.refused)} refused, {len(summary.problems)} problems" + (", stopped" if summary.error else ""))
    return page(request, "roster.html", session, status=200, summary=summary, lines=summary.lines(), roster_name=files[0].name,
                uploaded=len(photos), max_photos=MAX_ROSTER_PHOTOS, columns=columns)
