"""Reading request bodies before anything is decoded: the content type first, then multipart forms with bounded
parts and files (the body's total size is capped by limits.BodyLimit before this reads a byte)."""

from __future__ import annotations

from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import Request

from ..domain.errors import BadRequest
from . import problems
from .access import AccessRefused

MAX_FIELDS = 64  # text fields of one form


def _unsupported(request: Request, wanted: str) -> AccessRefused:
    got = request.headers.get("content-type", "none")
    return AccessRefused(problems.problem(415, "INVALID_ARGUMENT", f"send {wanted}, not {got[:60]}"))


async def read_form(request: Request, max_files: int, max_part_bytes: int) -> FormData:
    """The multipart form of a request (415 for another content type, 400 for a malformed or oversized form)."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise _unsupported(request, "multipart/form-data")
    try:
        return await request.form(max_files=max_files, max_fields=MAX_FIELDS, max_part_size=max_part_bytes)
    except MultiPartException as error:
        raise BadRequest(f"malformed multipart form: {error.message}") from None


def text(form: FormData, name: str, required: bool = False, max_length: int = 1024) -> str:
    """A text field ("" when absent and not required)."""
    value = form.get(name)
    if value is None or (isinstance(value, str) and not value and required):
        if required:
            raise BadRequest(f"{name} is required")
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be a text field, not a file")
    if len(value) > max_length:
        raise BadRequest(f"{name} is longer than {max_length} characters")
    return value


def texts(form: FormData, name: str, max_length: int = 1024) -> list[str]:
    """Every value of a repeated text field (also comma-separated within one)."""
    values = []
    for value in form.getlist(name):
        if not isinstance(value, str):
            raise BadRequest(f"{name} must be text fields, not files")
        values += [v.strip() for v in value.split(",") if v.strip()]
    if any(len(v) > max_length for v in values):
        raise BadRequest(f"a {name} is longer than {max_length} characters")
    return values


def number(form: FormData, name: str, default: float = 0.0) -> float:
    """A number field (default when absent)."""
    value = text(form, name, max_length=64)
    if not value:
        return default
    try:
        return float(value)
    except ValueError:
        raise BadRequest(f"{name} must be a number, got {value[:20]!r}") from None


def integer(form: FormData, name: str, default: int = 0) -> int:
    """An integer field (default when absent)."""
    value = text(form, name, max_length=32)
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {value[:20]!r}") from None


def flag(form: FormData, name: str) -> bool:
    """A yes/no field: true, 1, yes or on (anything else, or none, is no)."""
    return text(form, name, max_length=8).lower() in ("true", "1", "yes", "on")


async def files(form: FormData, name: str, required: bool = True) -> list[bytes]:
    """The bytes of every file sent as `name` (BadRequest where none is and one is required)."""
    found = []
    for value in form.getlist(name):
        if not isinstance(value, UploadFile):
            raise BadRequest(f"{name} must be a file part (filename=...), not a text field")
        found.append(await value.read())
    if required and not found:
        raise BadRequest(f"send at least one {name} as a file part")
    return found


def multipart_body(required: list[str], properties: dict, files_: tuple[str, ...] = ()) -> dict:
    """The OpenAPI requestBody of a multipart form (fields in `properties`; `files_` are binary, repeated ones arrays)."""
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": required, "properties": properties}}}},
        "responses": {"415": {"description": "Unsupported Media Type: not multipart/form-data",
                              "content": {problems.PROBLEM_JSON: {"schema": problems.PROBLEM_SCHEMA}}}}}


BINARY = {"type": "string", "format": "binary"}
