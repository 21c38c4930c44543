"""The console's Photo library pages (scope library): the collections, the people found in one (its stored
grouping) as face grids with their corrections (name, merge, "not this person", undo), search by words and by a
dropped photo, and the thumbnails those grids show (thumbnails.py: only photos inside FACEGRID_LIBRARY_ROOT).

Naming a group enrolls its faces at the gate, so it needs scope enroll too (as gRPC's REQUEST_SCOPES says); every
correction is the audited call of library_calls.py, under the session key's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from facegrid.encoder.image import DecodeLimits

from ...domain.collections import PLAIN_VECTORS
from ...domain.library_core import FaceSearch, GroupsView, PhotoQuery
from ...store.faces import FaceRecord
from .. import library_calls
from ..routes import library
from .answers import uploads, user_error
from .frame import NotAllowed, back_to, checked_form, page, router, signed_in, text_of
from .sessions import Session
from .thumbnails import face_jpeg, photo_bytes, photo_jpeg

router = router()
LIBRARY = signed_in("library")
GROUPS_PER_PAGE = 24
FACES_SHOWN = 18  # of one group on the page; the rest are counted
SEARCH_K = 24
THUMB_HEADERS = {"Cache-Control": "private, max-age=3600"}  # a face of someone's photo: never in a shared cache


@dataclass(frozen=True)
class FaceTile:
    """One face on a page: its id, where it is, and its thumbnail's address ("" where none can be shown)."""

    face_id: int
    path: str  # the first path its photo was indexed under
    box: str  # x, y, width, height, for the page where no thumbnail is shown
    thumb: str
    score: float | None = None


@dataclass(frozen=True)
class GroupTile:
    """One person found: the group's id, the subject it was named as, and its faces shown."""

    group_id: int
    name: str
    size: int
    faces: list[FaceTile]


def _root(request: Request) -> Path | None:
    return request.app.state.library_root


def _limits(request: Request) -> DecodeLimits:
    return DecodeLimits(max_bytes=request.app.state.limits.max_photo_bytes)


def _where(collection: str) -> str:
    return f"/ui/library/{collection}"


def face_tile(request: Request, collection: str, face: FaceRecord, paths: list[str],
              score: float | None = None) -> FaceTile:
    """A face as a tile: a thumbnail where the library root is set, else its path and box."""
    thumb = f"{_where(collection)}/faces/{face.face_id}.jpg" if _root(request) is not None else ""
    box = ", ".join(f"{v:.0f}" for v in face.box[:4])
    return FaceTile(face.face_id, paths[0] if paths else face.photo_sha256[:12], box, thumb, score)


def group_tiles(request: Request, collection: str, view: GroupsView, start: int) -> list[GroupTile]:
    """A page of the grouping's groups (largest first) as tiles."""
    tiles = []
    for group_id, faces in view.grouping.groups[start:start + GROUPS_PER_PAGE]:
        shown = sorted(faces, key=lambda f: (-f.quality.size, f.face_id))[:FACES_SHOWN]
        tiles.append(GroupTile(group_id, view.grouping.names.get(group_id, ""), len(faces),
                               [face_tile(request, collection, f, view.paths.get(f.photo_sha256, [])) for f in shown]))
    return tiles


@router.get("/library", response_class=HTMLResponse)
def collections(request: Request, session: Session = Depends(LIBRARY)) -> HTMLResponse:
    """The collections of this server with their counts."""
    return page(request, "library.html", session, reports=library(request).collections(),
                thumbnails=_root(request) is not None)


@router.get("/library/{collection}", response_class=HTMLResponse)
def people_found(request: Request, collection: str, start: int = 0,
                 session: Session = Depends(LIBRARY)) -> HTMLResponse:
    """The people found in a collection as face grids, with the corrections, and the search forms."""
    core = library(request)
    report = core.stats(collection)
    view = core.groups(collection) if report.stats.model != PLAIN_VECTORS else None
    start = max(0, start)
    groups = group_tiles(request, collection, view, start) if view is not None else []
    grouped = sum(len(f) for _, f in view.grouping.groups) if view is not None else 0
    return page(request, "collection.html", session, report=report, collection=report.stats.collection, groups=groups,
                total_groups=len(view.grouping.groups) if view is not None else 0, grouped=grouped,
                unassigned=view.grouping.unassigned if view is not None else 0, start=start, per_page=GROUPS_PER_PAGE,
                may_name=session.may("enroll"), thumbnails=_root(request) is not None)


async def _corrected(request: Request, session: Session, collection: str, call, *args, done: str = ""):
    """Run a correction; back to the collection's page saying what it did, or what was wrong."""
    try:
        view = await call(request, session.caller, collection, *args)
    except Exception as failure:  # noqa: BLE001 - what the user can fix (nothing to undo, busy) is shown there
        message = user_error(failure)
        if message is None:
            raise
        return back_to(_where(collection), error=message)
    return back_to(_where(collection), note=done or _naming_note(view))


def _naming_note(view: GroupsView) -> str:
    naming = view.grouping.naming
    if naming is None:
        return "Done."
    refused = [f for f in naming.faces if not f.accepted]
    return (f"Named {naming.subject_id}: {len(naming.template_ids)} face{'' if len(naming.template_ids) == 1 else 's'} "
            f"enrolled at the gate" + (" (a new subject)" if naming.created else "")
            + (f"; {len(refused)} not enrolled ({refused[0].reason})" if refused else "") + ".")


def _number(value: str, what: str) -> int:
    if not value.strip().lstrip("-").isdigit():
        raise NotANumber(f"choose {what}")
    return int(value)


class NotANumber(ValueError):
    """A form field that should hold a group's number."""


@router.post("/library/{collection}/cluster")
async def cluster(request: Request, collection: str, session: Session = Depends(LIBRARY)):
    """Group the collection's faces by person (again; corrections are kept)."""
    await checked_form(request, session)
    return await _corrected(request, session, collection, library_calls.cluster, done="Faces grouped by person.")


@router.post("/library/{collection}/name")
async def name(request: Request, collection: str, session: Session = Depends(LIBRARY)):
    """Name a group: the gate enrolls its best faces as the subject (scope enroll too)."""
    if not session.may("enroll"):
        raise NotAllowed("enroll (naming a group enrolls its faces at the gate)")
    form = await checked_form(request, session)
    try:
        group_id = _number(text_of(form, "group_id", max_length=20), "a group")
    except NotANumber as bad:
        return back_to(_where(collection), error=str(bad))
    subject_id = text_of(form, "subject_id", required=False, max_length=200)
    if not subject_id:
        return back_to(_where(collection), error="Type the subject id to name the group as.")
    return await _corrected(request, session, collection, library_calls.name, group_id, subject_id)


@router.post("/library/{collection}/merge")
async def merge(request: Request, collection: str, session: Session = Depends(LIBRARY)):
    """Two groups are one person."""
    form = await checked_form(request, session)
    try:
        group_id = _number(text_of(form, "group_id", max_length=20), "a group")
        other = _number(text_of(form, "other_group_id", max_length=20), "the group to merge with")
    except NotANumber as bad:
        return back_to(_where(collection), error=str(bad))
    return await _corrected(request, session, collection, library_calls.merge, group_id, other,
                            done=f"Group {other} merged into group {group_id}.")


@router.post("/library/{collection}/split")
async def split(request: Request, collection: str, session: Session = Depends(LIBRARY)):
    """Not this person: the face leaves its group for good."""
    form = await checked_form(request, session)
    face_id = text_of(form, "face_id", required=True, max_length=20)
    return await _corrected(request, session, collection, library_calls.split, face_id,
                            done=f"Face {face_id} taken out of its group.")


@router.post("/library/{collection}/undo")
async def undo(request: Request, collection: str, session: Session = Depends(LIBRARY)):
    """Take back the last correction (a naming's templates leave the gate)."""
    await checked_form(request, session)
    return await _corrected(request, session, collection, library_calls.undo, done="The last correction was undone.")


@router.get("/library/{collection}/search", response_class=HTMLResponse)
def search_words(request: Request, collection: str, text: str = "",
                 session: Session = Depends(LIBRARY)) -> HTMLResponse:
    """The photos nearest to words, with the collection's image model."""
    core = library(request)
    report = core.stats(collection)
    found, error = None, ""
    if text.strip():
        try:
            found = core.search_photos(PhotoQuery(report.stats.collection, SEARCH_K, text=text[:1000]))
        except Exception as failure:  # noqa: BLE001 - no image model, bad words: said on the page
            if user_error(failure) is None:
                raise
            error = user_error(failure)
    return page(request, "search.html", session, report=report, collection=report.stats.collection, text=text,
                photos=found.hits if found is not None else None, faces=None, error=error,
                thumbnails=_root(request) is not None, truncated=found.text_truncated if found is not None else False)


@router.post("/library/{collection}/search", response_class=HTMLResponse)
async def search_photo(request: Request, collection: str, session: Session = Depends(LIBRARY)) -> HTMLResponse:
    """The faces most like each face of a dropped photo, and (with an image model) the photos most like it."""
    form = await checked_form(request, session, 1, request.app.state.limits.max_photo_bytes)
    sent = await uploads(form, "photo")
    core = library(request)
    report = core.stats(collection)
    name = report.stats.collection
    if not sent or not sent[0].data:
        return back_to(f"{_where(name)}/search", error="Drop or choose a photo to search with.")
    faces, photos, error = [], None, ""
    try:
        found = await run_in_threadpool(core.search, FaceSearch(name, SEARCH_K, photo=sent[0].data))
        faces = [[face_tile(request, name, hit.face, hit.photo.paths if hit.photo else [], hit.score)
                  for hit in query.hits if hit.face is not None] for query in found]
        if report.stats.image_model:
            photos = (await run_in_threadpool(core.search_photos, PhotoQuery(name, SEARCH_K, photo=sent[0].data))).hits
    except Exception as failure:  # noqa: BLE001 - no face in it, unreadable: said on the page
        if user_error(failure) is None:
            raise
        error = user_error(failure)
    return page(request, "search.html", session, report=report, collection=name, text="", photos=photos, faces=faces,
                error=error, dropped=sent[0].name, thumbnails=_root(request) is not None, truncated=False)


def _jpeg_response(data: bytes | None) -> Response:
    if data is None:  # outside the library root, changed since indexing, unreadable: nothing to show
        return Response(status_code=404, headers={"Cache-Control": "no-store"})
    return Response(data, media_type="image/jpeg", headers=THUMB_HEADERS)


def _thumbnail(request: Request, look_up, render) -> Response:
    """A thumbnail of a stored face or photo (`look_up`: its record; `render`: photo bytes and record to a JPEG), where
    its photo is inside the library root and unchanged; an empty 404 otherwise (an unknown face or photo too)."""
    if _root(request) is None:
        return _jpeg_response(None)
    try:
        found = look_up()
    except Exception as failure:  # noqa: BLE001 - an unknown face, photo or collection: no thumbnail
        if user_error(failure) is None:
            raise
        return _jpeg_response(None)
    photo = photo_bytes(_root(request), found.paths, found.photo_sha256, _limits(request).max_bytes)
    return _jpeg_response(render(photo, found) if photo is not None else None)


@router.get("/library/{collection}/faces/{face_id}.jpg")
def face_thumbnail(request: Request, collection: str, face_id: int, session: Session = Depends(LIBRARY)) -> Response:
    """A face's thumbnail, cut from its photo where that is inside the library root and unchanged (404 otherwise)."""
    return _thumbnail(request, lambda: library(request).face(collection, face_id),
                      lambda photo, face: face_jpeg(photo, face.box, _limits(request)))


@router.get("/library/{collection}/photos/{photo_sha256}.jpg")
def photo_thumbnail(request: Request, collection: str, photo_sha256: str,
                    session: Session = Depends(LIBRARY)) -> Response:
    """A photo's thumbnail, where it is inside the library root and unchanged (404 otherwise)."""
    return _thumbnail(request, lambda: library(request).photo(collection, photo_sha256),
                      lambda photo, ref: photo_jpeg(photo, _limits(request)))
