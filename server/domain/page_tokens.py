"""Page tokens: opaque to clients (versioned, base64url), and refused when not given out by us.

A ListSubjects token holds the last subject id of the page it ends, so the next page starts after it; a photo
listing's holds the Redis scan cursor its page ended at. They are not secret (a caller could list from any id
anyway); they are opaque so that clients do not build their own and the format can change under a new version byte.
"""

from __future__ import annotations

import base64

from .enrollment import normalise_subject_id
from .errors import BadRequest

_VERSION = b"\x01"
_REFUSED = "page_token is not one this server gave out: send the next_page_token of the previous page, or none for the first"


def encode(after: str) -> str:
    """The token of a page that ends at subject id `after`."""
    return base64.urlsafe_b64encode(_VERSION + after.encode("utf-8")).rstrip(b"=").decode("ascii")


def decode(token: str) -> str:
    """The subject id a token's page starts after ("" for no token); BadRequest for anything else."""
    if not token:
        return ""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        after = raw[1:].decode("utf-8")
        # The round trip also refuses what b64decode would quietly skip (characters outside the alphabet).
        valid = raw[:1] == _VERSION and encode(after) == token and normalise_subject_id(after) == after
    except ValueError:  # not base64, not UTF-8, or not a subject id
        valid = False
    if not valid:
        raise BadRequest(_REFUSED)
    return after


_CURSOR = b"\x02"


def encode_cursor(cursor: int) -> str:
    """The token of a photo listing's next page, which starts at Redis scan cursor `cursor` (> 0)."""
    return base64.urlsafe_b64encode(_CURSOR + str(cursor).encode("ascii")).rstrip(b"=").decode("ascii")


def decode_cursor(token: str) -> int:
    """The scan cursor a photo listing's token starts at (0 for no token); BadRequest for anything else."""
    if not token:
        return 0
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        digits = raw[1:].decode("ascii")
        valid = raw[:1] == _CURSOR and digits.isdigit() and len(digits) <= 20 and encode_cursor(int(digits)) == token
    except ValueError:
        valid = False
    if not valid:
        raise BadRequest(_REFUSED)
    return int(digits)
