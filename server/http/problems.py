"""Failures as `application/problem+json` (RFC 9457), from the same table as gRPC's status codes.

Each problem carries the google.rpc code by name (`code`, the gRPC status a gRPC caller gets for the same failure),
the machine-readable `reason` gRPC callers find in ErrorInfo (OVERLOADED, NO_USABLE_PHOTO, a photo's issue, ...),
and where there is one the same detail: each photo's outcome of a refused enrollment, the probe's issue, its box and
quality. What the caller is told and what is logged come from domain/error_kinds.py, as for gRPC.
"""

from __future__ import annotations

import math
from http import HTTPStatus

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ..domain.error_kinds import (RETRY_AFTER_S, ErrorKind, caller_message, http_status_of, kind_of, log_failure, overloaded,
                                  reason_of)
from ..domain.errors import EnrollmentRefused, NoUsableFace
from .schemas import BoxOut, PhotoOutcomeOut, QualityOut

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPES = "https://facegrid.dev/problems/"  # + the code in lower case: an identifier, documented in docs/http.md


class Problem(BaseModel):
    """A failed call (RFC 9457), with the gRPC code and reason of the same failure."""

    type: str = Field(description="a URI naming the kind of failure")
    title: str = Field(description="the HTTP status's phrase")
    status: int
    detail: str = Field(description="what went wrong, in words")
    code: str = Field(description="the google.rpc code a gRPC caller gets for the same failure")
    reason: str = Field("", description="machine-readable: OVERLOADED, NO_USABLE_PHOTO, AUTH_PENALTY, a photo's issue ...")
    retry_after_s: float | None = Field(None, description="when a refusal for load or for failed authentications may be retried")
    photos: list[PhotoOutcomeOut] | None = Field(None, description="a refused enrollment: each photo's outcome")
    face: BoxOut | None = None
    quality: QualityOut | None = None


PROBLEM_RESPONSES = {status: {"model": Problem, "content": {PROBLEM_JSON: {}}}
                     for status in (400, 401, 403, 404, 409, 413, 429, 500, 501, 503)}
PROBLEM_SCHEMA = {"$ref": "#/components/schemas/Problem"}


def tidy_openapi(document: dict) -> dict:
    """The OpenAPI document as the API answers: problems as application/problem+json with their schema (FastAPI puts
    a response model under the route's own media type), and no 422 (invalid requests are 400 problems)."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            responses.pop("422", None)
            for response in responses.values():
                content = response.get("content", {})
                routes_own = [media for media in content if media != PROBLEM_JSON]  # application/json, text/plain ...
                if PROBLEM_JSON in content and routes_own:
                    response["content"] = {PROBLEM_JSON: content[routes_own[0]]}
    schemas = document.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return document


def problem(status: int, code: str, detail: str, reason: str = "", retry_after_s: float | None = None,
            headers: dict[str, str] | None = None, **extra) -> JSONResponse:
    """A problem+json response; `Retry-After` (whole seconds) is set with `retry_after_s`."""
    body = Problem(type=PROBLEM_TYPES + code.lower(), title=HTTPStatus(status).phrase, status=status, detail=detail,
                   code=code, reason=reason, retry_after_s=retry_after_s, **extra)
    headers = dict(headers or {})
    if retry_after_s is not None:
        headers["Retry-After"] = str(max(1, math.ceil(retry_after_s)))
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, media_type=PROBLEM_JSON, headers=headers)


def of_kind(kind: ErrorKind, detail: str, reason: str = "", status: int = 0, **extra) -> JSONResponse:
    """A problem of one kind of failure (its HTTP status unless `status` says otherwise)."""
    return problem(status or kind.http_status, kind.name, detail, reason, **extra)


def error_response(error: BaseException, name: str) -> JSONResponse:
    """The problem a typed error becomes; logged where the server is at fault (domain/error_kinds.py)."""
    kind = kind_of(error)
    log_failure(name, error, kind)
    extra: dict = {}
    if isinstance(error, EnrollmentRefused):
        extra["photos"] = [PhotoOutcomeOut.of(o) for o in error.outcomes]
    elif isinstance(error, NoUsableFace) and error.issue is not None:
        if error.box is not None:
            x, y, w, h = error.box
            extra["face"] = BoxOut(x=x, y=y, width=w, height=h)
        if error.quality is not None:
            extra["quality"] = QualityOut.of(error.quality)
    return problem(http_status_of(error, kind), kind.name, caller_message(error, kind), reason_of(error),
                   retry_after_s=RETRY_AFTER_S if overloaded(error) else None, **extra)
