"""What the console's forms share: the photos of an upload with their file names, and which failures are the
user's to fix (shown on the page they came from) rather than the server's (the error page, logged)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import FormData, UploadFile

from ...domain.error_kinds import ErrorKind, caller_message, kind_of

# Failures of the request itself: the page says what is wrong and the user tries again.
USER_KINDS = frozenset({ErrorKind.INVALID_ARGUMENT, ErrorKind.NOT_FOUND, ErrorKind.FAILED_PRECONDITION,
                        ErrorKind.ALREADY_EXISTS, ErrorKind.ABORTED, ErrorKind.OUT_OF_RANGE})


@dataclass(frozen=True)
class Upload:
    """One uploaded file: its name as the browser sent it (a folder upload sends its path in the folder) and bytes."""

    name: str
    data: bytes


async def uploads(form: FormData, field: str) -> list[Upload]:
    """The files sent as `field`; the empty part a browser sends when no file was chosen is left out."""
    found = []
    for value in form.getlist(field):
        if isinstance(value, UploadFile):
            data = await value.read()
            if data or value.filename:
                found.append(Upload((value.filename or f"photo {len(found) + 1}")[:256], data))
    return found


def user_error(error: BaseException) -> str | None:
    """The words for a failure the user can fix (a bad id, an unknown subject, a busy grouping), or None."""
    kind = kind_of(error)
    return caller_message(error, kind) if kind in USER_KINDS else None
