"""Run the `facegrid` command as a user would, and read what it prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def facegrid(*args: str, timeout: int = 1200, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the `facegrid` command as a user would; its completed process."""
    return subprocess.run(
        [sys.executable, "-m", "facegrid.clients.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def last_json(output: str) -> dict:
    """The one JSON object a `--json` command prints on its last line."""
    return json.loads(output.strip().splitlines()[-1])
