"""What every router shares: the scope check as a dependency, the core's parts, and the audit log."""

from __future__ import annotations

from typing import AsyncIterator, Callable

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..domain.call_slots import CLASS_OF
from ..domain.callers import Caller
from ..domain.core import ServiceCore
from ..domain.error_kinds import ErrorKind, kind_of
from ..domain.gate_core import GateCore
from ..domain.library_core import LibraryCore
from ..domain.admin_core import AdminCore
from ..domain.embedding import Embedder
from ..store.audit import AuditEntry
from . import problems
from .access import AccessRefused, HttpAccess
from .limits import BodyTooLarge


class AnsweringRoute(APIRoute):
    """A route whose typed errors are answered (`answer`), so the server keeps running; what the app's own handlers
    answer passes through: refusals, validation, a body past the cap (limits.BodyLimit: 413) and `passed`."""

    passed: tuple[type[BaseException], ...] = ()

    def answer(self, request: Request, error: Exception):
        """The response to a typed error (problem+json here; the console renders a page)."""
        return problems.error_response(error, self.name)

    def get_route_handler(self) -> Callable:
        """The route's handler, wrapped."""
        handler = super().get_route_handler()

        async def answered(request: Request):
            try:
                return await handler(request)
            except StarletteHTTPException as error:
                if isinstance(error.__cause__, BodyTooLarge):  # FastAPI's "error parsing the body" of a JSON body
                    raise error.__cause__ from None
                raise
            except (RequestValidationError, AccessRefused, BodyTooLarge, *self.passed):
                raise
            except Exception as error:  # noqa: BLE001 - every error is answered, none kills the server
                return self.answer(request, error)

        return answered


class ProblemRoute(AnsweringRoute):
    """An API route: typed errors become problem+json responses."""


def router(tag: str) -> APIRouter:
    """A router of /v1 routes whose errors are problems."""
    return APIRouter(prefix="/v1", tags=[tag], route_class=ProblemRoute, responses=problems.PROBLEM_RESPONSES)


def needs(scope: str, method: str) -> Callable:
    """A dependency: the caller, if it holds `scope` (the scope of gRPC's `method`, e.g. "GateService/Verify").

    A method of a capped class (domain/call_slots.py: IndexPhotos, Cluster, KMeans, SimilarPhotos) also holds a slot
    of that class, shared with gRPC's calls, for the request's life; beyond the cap: 429, reason OVERLOADED."""

    async def checked(request: Request) -> Caller:
        access: HttpAccess = request.app.state.access
        if access.checks_in_memory(request):  # the usual case: a key seen within the second
            return access.check(request, scope, method)
        return await run_in_threadpool(access.check, request, scope, method)  # Redis is read: never on the event loop

    async def checked_in_slot(request: Request) -> AsyncIterator[Caller]:
        caller = await checked(request)
        calls = request.app.state.call_classes.get(CLASS_OF[method])
        if calls is None:
            yield caller
            return
        calls.take()
        try:
            yield caller
        finally:
            calls.leave()

    chosen = checked_in_slot if method in CLASS_OF else checked
    chosen.__name__ = f"needs_{scope}"
    chosen.scope, chosen.method = scope, method  # read by tests/test_http_api.py's mirror table
    return chosen


def _unimplemented(what: str) -> AccessRefused:
    return AccessRefused(problems.of_kind(ErrorKind.UNIMPLEMENTED, f"this server has no {what} (its role serves other calls)"))


def core(request: Request) -> ServiceCore:
    """The server's service core."""
    return request.app.state.core


def _part(request: Request, name: str, what: str):
    found = getattr(core(request), name)
    if found is None:
        raise _unimplemented(what)
    return found


def gate(request: Request) -> GateCore:
    """The gate's calls (UNIMPLEMENTED on the encoder role)."""
    return _part(request, "gate", "gate")


def library(request: Request) -> LibraryCore:
    """The photo library's calls (UNIMPLEMENTED on the encoder role)."""
    return _part(request, "library", "photo library")


def admin(request: Request) -> AdminCore:
    """Keys, audit and doors (UNIMPLEMENTED on the encoder role)."""
    return _part(request, "admin", "administration")


def embedder(request: Request) -> Embedder:
    """The models of this server (UNIMPLEMENTED on the index role)."""
    return _part(request, "embedder", "models")


def audit(request: Request, caller: Caller, method: str, **fields) -> None:
    """Queue one audit entry for a call (written in the background; never raises)."""
    record = request.app.state.access.record
    if record is not None:
        record(AuditEntry(key_name=caller.key_name, rpc=method, peer=caller.peer, **fields))


def failed_decision(error: BaseException) -> str:
    """The decision an audit entry of a failed call records: the failure's code name, as gRPC's do."""
    return kind_of(error).name
