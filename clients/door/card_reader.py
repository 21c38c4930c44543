"""Card ids for verification (1:1) instead of identification: one id per line from stdin, a serial reader's
device (/dev/ttyUSB0, lines of text) or a USB reader that types like a keyboard (/dev/hidrawN).

An id counts for the next decision made within `hold_seconds` of reading it, then it is forgotten: a card
shown long before someone else walks up must not be checked against them.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from typing import BinaryIO, Iterator, TextIO

log = logging.getLogger("facegrid.door")

# The server's subject ids: 1 to 128 letters or digits of any script and . _ - @ : +
CARD_ID = re.compile(r"^[\w.\-@:+]{1,128}$")
# USB HID keyboard usage ids: a-z 0x04-0x1d, 1-9 0x1e-0x26, 0 0x27, Enter 0x28 (HID Usage Tables, 0x07 page).
HID_ENTER = 0x28
HID_SHIFT = 0x22   # left (0x02) or right (0x20) shift in the modifier byte


def hid_character(usage: int, shifted: bool) -> str:
    """The character a HID keyboard usage id types ("" for keys a card reader does not send)."""
    if 0x04 <= usage <= 0x1D:
        letter = chr(ord("a") + usage - 0x04)
        return letter.upper() if shifted else letter
    if 0x1E <= usage <= 0x26:
        return str(usage - 0x1D)
    if usage == 0x27:
        return "0"
    return {0x2D: "-", 0x37: "."}.get(usage, "")


def hid_lines(device: BinaryIO) -> Iterator[str]:
    """Lines typed by a keyboard-like reader, from its 8-byte boot-protocol reports."""
    typed, held = [], set()
    while report := device.read(8):
        if len(report) < 8:
            return
        shifted = bool(report[0] & HID_SHIFT)
        pressed = {k for k in report[2:8] if k}
        for usage in sorted(pressed - held):   # a key counts when it goes down, not while held
            if usage == HID_ENTER:
                yield "".join(typed)
                typed = []
            else:
                typed.append(hid_character(usage, shifted))
        held = pressed


def text_lines(stream: TextIO) -> Iterator[str]:
    """Each line of a text stream, stripped: a card reader that types into a terminal or a pipe."""
    for line in stream:
        yield line.strip()


class CardReader:
    """Reads card ids on a thread; `take` hands the last one to a decision."""

    def __init__(self, source: str, hold_seconds: float = 10.0) -> None:
        self.source, self.hold_seconds = source, hold_seconds
        self._latest: tuple[str, float] | None = None
        self._lock = threading.Lock()
        threading.Thread(target=self._read, name="door-cards", daemon=True).start()

    def _lines(self) -> Iterator[str]:
        if self.source == "stdin":
            yield from text_lines(sys.stdin)
        elif "hidraw" in self.source:
            with open(self.source, "rb", buffering=0) as device:
                yield from hid_lines(device)
        else:
            with open(self.source, encoding="utf-8", errors="replace") as device:
                yield from text_lines(device)

    def _read(self) -> None:
        try:
            for line in self._lines():
                if not line:
                    continue
                if not CARD_ID.match(line):
                    log.warning("card reader %s: ignoring a line that is no card id (%d characters)", self.source, len(line))
                    continue
                with self._lock:
                    self._latest = (line, time.monotonic())
                log.info("card reader %s: card read", self.source)
        except OSError as error:
            log.error("card reader %s stopped: %s", self.source, error)
            return
        log.info("card reader %s: no more input", self.source)

    def take(self) -> str:
        """The card read within the last `hold_seconds` (then forgotten), or ""."""
        with self._lock:
            latest, self._latest = self._latest, None
        if latest is None or time.monotonic() - latest[1] > self.hold_seconds:
            return ""
        return latest[0]
