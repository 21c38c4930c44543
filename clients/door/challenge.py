"""The active challenge: a random instruction for the person at the door, spoken (espeak-ng) and/or
published on MQTT for a door display; the server checks that the head in the burst follows it."""

from __future__ import annotations

import logging
import random
import shutil
import subprocess
import threading
from typing import Callable

log = logging.getLogger("facegrid.door")

# "left" is the person's own left, as the server reads it (gate.proto, Challenge).
INSTRUCTIONS = {
    "turn_left": "Please turn your head to your left.",
    "turn_right": "Please turn your head to your right.",
    "look_up": "Please look up.",
}


class Challenger:
    """Picks an instruction per approach (unpredictable: the system's random source) and gives it."""

    def __init__(self, speak: bool = True, publish: Callable[[dict], None] | None = None) -> None:
        self._espeak = shutil.which("espeak-ng") if speak else None
        if speak and not self._espeak:
            log.warning("--challenge: espeak-ng is not installed; instructions go to MQTT only")
        self._publish = publish
        self._random = random.SystemRandom()

    def issue(self, door: str, track: int) -> str:
        """A new instruction for this track, given now; its name (turn_left, turn_right, look_up)."""
        name = self._random.choice(sorted(INSTRUCTIONS))
        if self._espeak:
            try:
                speaking = subprocess.Popen([self._espeak, INSTRUCTIONS[name]], stdin=subprocess.DEVNULL,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                threading.Thread(target=speaking.wait, daemon=True).start()   # reaped, never waited on here
            except OSError as error:
                log.error("espeak-ng could not start: %s", error)
        if self._publish is not None:
            self._publish({"door": door, "track": track, "challenge": name, "text": INSTRUCTIONS[name]})
        return name
