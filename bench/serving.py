"""A real `facegrid serve` in its own process for the fault benchmarks (fuzz, SIGKILL loop)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path


class ServeProcess:
    """`facegrid serve` on an ephemeral port with its data directory and a metrics endpoint."""

    def __init__(self, data_dir: Path, env: dict | None = None, args: list[str] | tuple = ()) -> None:
        self.data_dir = Path(data_dir)
        self.env = {**os.environ, **(env or {})}
        self.args = list(args)  # more `facegrid serve` flags (--role, --encoder)
        self.process: subprocess.Popen | None = None
        self.address = ""
        self.metrics_url = ""

    def start(self) -> "ServeProcess":
        """Start the server and wait until it prints its serving and metrics addresses."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "facegrid.clients.cli", "serve", "--address", "127.0.0.1:0",
             "--data-dir", str(self.data_dir), "--metrics-address", "127.0.0.1:0", *self.args],
            stdout=subprocess.PIPE, stderr=open(self.data_dir / "server.log", "ab"), text=True, env=self.env,
        )
        for line in self.process.stdout:
            if line.startswith("facegrid serving on "):
                self.address = line.split()[3]
            elif line.startswith("facegrid metrics on "):
                self.metrics_url = "http://" + line.split()[3]
                return self
        raise RuntimeError("server did not start: " + (self.data_dir / "server.log").read_text()[-2000:])

    def vectors(self) -> dict[str, float]:
        """What the server's FAISS collections hold, from its metrics (`subjects`, `collection:<name>`)."""
        text = urllib.request.urlopen(self.metrics_url, timeout=10).read().decode()
        return {m.group(1): float(m.group(2)) for m in re.finditer(r'^facegrid_vectors\{collection="([^"]+)"\} (\S+)$', text, re.M)}

    def kill(self) -> None:
        """Kill the server at once (a crash, for the recovery figures)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def stop(self) -> None:
        """Stop the server gracefully and wait for it to exit."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)
