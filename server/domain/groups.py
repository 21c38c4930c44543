"""Group and door names: 1 to 64 of a-z 0-9 . _ - (lower case, so "Staff" and "staff" are never two groups)."""

from __future__ import annotations

import re

from .errors import InvalidName

_NAME = re.compile(r"^[a-z0-9._-]{1,64}$")
MAX_GROUPS = 100  # per subject or door: a roster's groups, not a second subject list


def checked_name(kind: str, name: str) -> str:
    """The name if it follows the rule; InvalidName saying which rule it breaks."""
    if not _NAME.match(name or ""):
        raise InvalidName(f"{kind} name {name[:80]!r} is not 1 to 64 of a-z 0-9 . _ - (lower case)")
    return name


def group_names(names) -> tuple[str, ...]:
    """Group names checked, sorted, each once."""
    groups = tuple(sorted({checked_name("group", n) for n in names}))
    if len(groups) > MAX_GROUPS:
        raise InvalidName(f"at most {MAX_GROUPS} groups, got {len(groups)}")
    return groups


def door_name(name: str) -> str:
    """A door's name checked."""
    return checked_name("door", name)
