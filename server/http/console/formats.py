"""How the console's pages write times and durations (Jinja filters `timestamp` and `duration`)."""

from __future__ import annotations

from datetime import datetime

from .frame import templates


def timestamp(when: float | None) -> str:
    """A Unix time as the server's local time, to the minute ("" for none)."""
    return datetime.fromtimestamp(when).strftime("%Y-%m-%d %H:%M") if when else ""


def duration(seconds: float) -> str:
    """A span in words: "3 d 4 h", "2 h 5 min", "40 s"."""
    seconds = int(max(seconds, 0))
    days, hours, minutes = seconds // 86400, seconds % 86400 // 3600, seconds % 3600 // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else f"{seconds} s"


templates.env.filters.update(timestamp=timestamp, duration=duration)
