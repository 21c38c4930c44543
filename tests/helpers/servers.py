"""A real `facegrid serve` in its own process, and the keys a test makes on it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class ServerProcess:
    """A real `facegrid serve` in its own process, on an ephemeral port, with its own data directory.

    `args`: more `facegrid serve` flags (an `--address` among them replaces 127.0.0.1:0).
    """

    def __init__(self, data_dir: Path, env: dict | None = None, args: list[str] | tuple = ()) -> None:
        self.data_dir = Path(data_dir)
        self.env = {**os.environ, **(env or {})}
        self.args = list(args)
        self.process = None
        self.address = None
        self.metrics_url = ""  # with --metrics-address among the args
        self.http_url = ""  # with --http among the args: the REST API and console, e.g. http://127.0.0.1:41234

    def start(self, timeout: float = 120.0) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / "server.log", "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "facegrid.clients.cli", "serve", *([] if "--address" in self.args else ["--address", "127.0.0.1:0"]),
             "--data-dir", str(self.data_dir), *self.args],
            stdout=subprocess.PIPE,
            stderr=log,
            env=self.env,
            text=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if line.startswith("facegrid serving on "):
                self.address = line.split()[3]
            elif line.startswith("facegrid http on "):  # printed after the serving line
                self.http_url = line.split()[3]
            elif line.startswith("facegrid metrics on "):  # printed last
                self.metrics_url = "http://" + line.split()[3]
            if self.address and ("--http" not in self.args or self.http_url) and (
                    "--metrics-address" not in self.args or self.metrics_url):
                return self
            if not line and self.process.poll() is not None:
                break
        self.kill()
        raise RuntimeError("server did not start:\n" + (self.data_dir / "server.log").read_text()[-3000:])

    @property
    def local_address(self) -> str:
        """The address to call from this machine (127.0.0.1 for a server listening on every interface)."""
        host, port = self.address.rsplit(":", 1)
        return f"127.0.0.1:{port}" if host in ("0.0.0.0", "[::]") else self.address

    def client(self, **options):
        from facegrid.clients.sdk import Facegrid

        return Facegrid(self.local_address, **options)

    def stop(self) -> int:
        """SIGTERM: graceful shutdown."""
        self.process.terminate()
        return self.process.wait(timeout=60)

    def kill(self) -> None:
        """SIGKILL: no chance to clean up."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


@contextmanager
def running_server(folder: Path, env: dict | None = None, args: list[str] | tuple = ()) -> Iterator[ServerProcess]:
    """A ServerProcess with its data directory in `folder`, killed when the block ends (a module's shared server)."""
    server = ServerProcess(Path(folder) / "data", env, args).start()
    try:
        yield server
    finally:
        server.kill()


def make_keys(server: ServerProcess, wanted: dict[str, tuple], admin_scopes: tuple[str, ...] = ("admin",)) -> dict[str, str]:
    """Keys as an operator makes them: an admin key first, made without a key (the server has none yet), then with
    it each key of `wanted` (label -> (name, scopes) or (name, scopes, door)). Label -> key, "admin" among them."""
    with server.client() as anyone:
        made = {"admin": anyone.create_key("admin", list(admin_scopes)).key}
    with server.client(api_key=made["admin"]) as admin:
        for label, (name, scopes, *door) in wanted.items():
            made[label] = admin.create_key(name, list(scopes), door=door[0] if door else "").key
    return made
