"""A progress bar on stderr: tqdm's where it is installed (the server install), a plain line otherwise (the thin
client must work without it)."""

from __future__ import annotations

import sys
import time


class ProgressLine:
    """A progress line on stderr where tqdm is not installed (the thin client): only on a terminal, a few times a second."""

    def __init__(self, total: int, unit: str) -> None:
        self.total, self.unit, self.n = total, unit, 0
        self.shown = sys.stderr.isatty()
        self._last = 0.0
        self._postfix = ""

    def update(self, n: int) -> None:
        """Count `n` more items done; redraw at most five times a second, and at the end."""
        self.n += n
        if self.shown and (time.monotonic() - self._last > 0.2 or self.n >= self.total):
            self._last = time.monotonic()
            print(f"\r{self.n}/{self.total} {self.unit}s {self._postfix}", end="", file=sys.stderr, flush=True)

    def set_postfix(self, **values) -> None:
        """Show these values after the count (tqdm's set_postfix)."""
        self._postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def close(self) -> None:
        """End the line, if one was drawn."""
        if self.shown and self._last:
            print(file=sys.stderr, flush=True)


def progress_bar(total: int, unit: str):
    """tqdm's bar on stderr (off where stderr is not a terminal), or ProgressLine without tqdm."""
    try:
        from tqdm import tqdm
    except ImportError:
        return ProgressLine(total, unit)
    return tqdm(total=total, unit=unit, disable=None, file=sys.stderr)


