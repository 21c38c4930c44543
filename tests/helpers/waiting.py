"""Waiting for what the server does in the background (audit entries, key use, thumbnails) without fixed sleeps."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def eventually(check: Callable[[], T], seconds: float = 10.0) -> T:
    """Poll until check() is truthy, at most `seconds`; its last value (falsy: it never came)."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)
