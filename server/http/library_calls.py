"""The photo library's corrections as the REST routes and the console's pages make them: the LibraryCore call and
its audit entry. Naming a group enrolls it at the gate, so it is audited as gRPC's Correct is (server/rpc/audit.py
_correct: the subject, the group and the collection); merges, splits, undo and clustering are audited here too, so
the log says who reshaped a library from a screen."""

from __future__ import annotations

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from ..domain.callers import Caller
from ..domain.enrollment import subject_of
from ..domain.library_core import GroupsView
from .routes import audit, failed_decision, library

CORRECT, UNDO, CLUSTER = "IndexService/Correct", "IndexService/Undo", "IndexService/Cluster"


def _where(collection: str) -> str:
    return f"collection {collection[:64]!r}"


async def name(request: Request, caller: Caller, collection: str, group_id: int, subject_id: str) -> GroupsView:
    """Name a group as a subject: the gate enrolls its best faces (the caller's scopes, library and enroll, are
    checked by the route or page)."""
    fields = {"subject_id": subject_of(subject_id), "detail": f"named group {group_id} of {_where(collection)}"}
    try:
        view = await run_in_threadpool(library(request).name, collection, group_id, subject_id)
    except Exception as error:
        audit(request, caller, CORRECT, decision=failed_decision(error), **fields)
        raise
    naming = view.grouping.naming
    enrolled = len(naming.template_ids) if naming is not None else 0
    audit(request, caller, CORRECT, decision="named", subject_id=naming.subject_id if naming else fields["subject_id"],
          detail=f"{fields['detail']}: {enrolled} templates enrolled")
    return view


async def merge(request: Request, caller: Caller, collection: str, group_id: int, other_group_id: int) -> GroupsView:
    """Two groups are one person."""
    detail = f"merged group {other_group_id} into {group_id} of {_where(collection)}"
    return await _audited(request, caller, CORRECT, "merged", detail, library(request).merge, collection, group_id,
                          other_group_id)


async def split(request: Request, caller: Caller, collection: str, face_id: str) -> GroupsView:
    """This face is not the person of its group."""
    detail = f"face {face_id[:20]} taken out of its group of {_where(collection)}"
    return await _audited(request, caller, CORRECT, "split", detail, library(request).split, collection, face_id)


async def undo(request: Request, caller: Caller, collection: str) -> GroupsView:
    """Take back the last correction (a naming's templates leave the gate)."""
    return await _audited(request, caller, UNDO, "undone", f"last correction of {_where(collection)}",
                          library(request).undo, collection)


async def cluster(request: Request, caller: Caller, collection: str) -> GroupsView:
    """Group the collection's faces by person (again): corrections are kept."""
    return await _audited(request, caller, CLUSTER, "clustered", f"grouped the faces of {_where(collection)}",
                          library(request).cluster, collection)


async def _audited(request: Request, caller: Caller, method: str, decision: str, detail: str, call, *args) -> GroupsView:
    try:
        view = await run_in_threadpool(call, *args)
    except Exception as error:
        audit(request, caller, method, decision=failed_decision(error), detail=detail)
        raise
    audit(request, caller, method, decision=decision, detail=detail)
    return view
