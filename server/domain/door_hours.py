"""A door's weekly opening hours: "Mon-Fri 06:00-22:00; Sat 08:00-18:00" parsed, and checked at a time in a time zone.

Plain functions, no I/O. The text is a list of parts separated by `;`, each days then one or more time ranges:

    Mon-Fri 06:00-22:00            a range of days (wrapping too: Sat-Mon)
    Sat,Sun 08:00-12:00 14:00-18:00   a list of days, two ranges
    Fri 22:00-02:00                past midnight: Fri 22:00-24:00 and Sat 00:00-02:00
    Mon-Sun 00:00-24:00            always

Days are the English three-letter names (any case). Empty text means always open. Hours are wall-clock
time in the door's IANA zone (zoneinfo), so a door that opens at 06:00 opens at 06:00 in summer and winter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # datetime.weekday() order
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
MAX_HOURS_TEXT = 500


class BadHours(ValueError):
    """Opening hours or a time zone that cannot be read; the message names the part at fault."""


@dataclass(frozen=True)
class Interval:
    """Open on `day` (0 Monday .. 6 Sunday) from `start` to `end`, minutes since midnight (end exclusive, up to 1440)."""

    day: int
    start: int
    end: int


def _day(text: str) -> int:
    name = text.strip().lower()
    if name not in DAYS:
        raise BadHours(f"hours: {text.strip()!r} is not a day (Mon, Tue, Wed, Thu, Fri, Sat, Sun)")
    return DAYS.index(name)


def _days(text: str) -> list[int]:
    """'Mon-Fri', 'Sat,Sun', 'Fri-Mon' (wrapping) -> weekday numbers."""
    days: list[int] = []
    for part in text.split(","):
        first, dash, last = part.partition("-")
        if not dash:
            days.append(_day(first))
            continue
        start, end = _day(first), _day(last)
        days.extend((start + i) % 7 for i in range((end - start) % 7 + 1))
    return days


def _minutes(text: str, end: bool) -> int:
    found = _TIME.match(text)
    hours, minutes = (int(found.group(1)), int(found.group(2))) if found else (-1, -1)
    value = hours * 60 + minutes
    if not found or minutes > 59 or not (0 <= value <= 1440) or (value == 1440 and not end):
        raise BadHours(f"hours: {text!r} is not a time (HH:MM from 00:00 to 23:59, or 24:00 as an end)")
    return value


def _ranges(text: str) -> list[tuple[int, int]]:
    start_text, dash, end_text = text.partition("-")
    if not dash:
        raise BadHours(f"hours: {text!r} is not a time range (like 08:00-18:00)")
    start, end = _minutes(start_text, end=False), _minutes(end_text, end=True)
    if start == end:
        raise BadHours(f"hours: {text!r} is empty (its start and end are the same time)")
    return [(start, end)] if start < end else [(start, 1440), (0, end)]  # past midnight: into the next day


def parse_hours(text: str) -> list[Interval]:
    """The intervals the text opens the door; [] for empty text (always open). BadHours naming the part at fault."""
    if len(text) > MAX_HOURS_TEXT:
        raise BadHours(f"hours: at most {MAX_HOURS_TEXT} characters, got {len(text)}")
    intervals: list[Interval] = []
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        words = part.split()
        if len(words) < 2:
            raise BadHours(f"hours: {part!r} needs days and a time range, like 'Mon-Fri 06:00-22:00'")
        for day in _days(words[0]):
            for word in words[1:]:
                ranges = _ranges(word)
                intervals.append(Interval(day, *ranges[0]))
                if len(ranges) > 1:
                    intervals.append(Interval((day + 1) % 7, *ranges[1]))
    if text.strip() and not intervals:
        raise BadHours(f"hours: {text!r} names no days and times")
    return intervals


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    """Every IANA zone this machine knows (read once): a name is looked up here before it becomes a file path."""
    return frozenset(available_timezones())


def time_zone(name: str) -> ZoneInfo:
    """The IANA zone of this name ("" is UTC); BadHours for one zoneinfo does not know."""
    try:
        if name and name not in _zone_names():
            raise ZoneInfoNotFoundError(name)
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise BadHours(f"time zone: {name[:80]!r} is not an IANA time zone name (like Europe/Berlin or America/New_York)") from None


def is_open(intervals: list[Interval], zone: ZoneInfo, when: float) -> bool:
    """Whether the hours hold at Unix time `when` on the door's wall clock (always, for no intervals)."""
    if not intervals:
        return True
    local = datetime.fromtimestamp(when, zone)
    minute = local.hour * 60 + local.minute
    return any(i.day == local.weekday() and i.start <= minute < i.end for i in intervals)
