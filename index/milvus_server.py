"""A real Milvus server on loopback for tests and benchmarks: milvus-lite 3.2's gRPC server as a subprocess.

milvus-lite 3.x is a pure-Python engine with a Milvus-protocol gRPC front end; its command
`python -m milvus_lite server --data-dir DIR --host H --port P` serves until SIGINT (then it drains
for up to 5 s and releases the data folder's lock). `MilvusLiteServer(folder).start()` runs one in
`folder`, waits until it answers GetVersion, and returns its URI; `stop()` is the graceful end,
`kill()` the SIGKILL a fault test wants. A restart keeps the port, so clients holding the URI
reconnect to the same address.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from .errors import EngineUnavailable

_HOST = "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((_HOST, 0))
        return s.getsockname()[1]


def answers(uri: str, timeout: float = 1.0) -> bool:
    """Whether a Milvus server at uri (http://host:port) answers GetVersion within timeout seconds."""
    import grpc
    from pymilvus.grpc_gen import milvus_pb2, milvus_pb2_grpc

    target = uri.split("://", 1)[-1].rstrip("/")
    with grpc.insecure_channel(target) as channel:
        try:
            grpc.channel_ready_future(channel).result(timeout=timeout)
            milvus_pb2_grpc.MilvusServiceStub(channel).GetVersion(milvus_pb2.GetVersionRequest(), timeout=timeout)
            return True
        except (grpc.FutureTimeoutError, grpc.RpcError):
            return False


class MilvusLiteServer:
    """One milvus-lite server process with its data in `folder`/data and its log in `folder`/milvus.log."""

    def __init__(self, folder: Path | str, port: int = 0, start_timeout: float = 60.0) -> None:
        self.folder = Path(folder)
        self.port = port  # 0: a free one, chosen at the first start and kept for restarts
        self.start_timeout = start_timeout
        self.process: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        """The address pymilvus connects to."""
        return f"http://{_HOST}:{self.port}"

    @property
    def log_path(self) -> Path:
        """The server's log file (read when it fails to start)."""
        return self.folder / "milvus.log"

    def start(self) -> str:
        """Start the server (a free port the first time), wait until it answers; its URI."""
        self.folder.mkdir(parents=True, exist_ok=True)
        chosen = self.port == 0
        for _ in range(3 if chosen else 1):  # a free port may be taken between choosing and binding
            if chosen:
                self.port = _free_port()
            if self._launch():
                return self.uri
            if not chosen:
                break
        raise EngineUnavailable(f"milvus-lite did not start on {self.uri}; its log {self.log_path} ends:\n{self._log_tail()}")

    def _launch(self) -> bool:
        """One attempt: spawn the process and wait until it answers (False if it died or timed out)."""
        with open(self.log_path, "ab") as log:  # never our stdout: a pipe the child holds open blocks its reader
            self.process = subprocess.Popen(
                [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(self.folder / "data"),
                 "--host", _HOST, "--port", str(self.port)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            if answers(self.uri, timeout=0.5):
                return True
            time.sleep(0.1)
        self.kill()
        return False

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def running(self) -> bool:
        """Whether the server process was started and has not exited."""
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        """Graceful end (SIGINT: in-flight calls drain, the data folder's lock is released); SIGKILL after timeout."""
        if not self.running():
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL: the server dies with no chance to clean up (fault tests)."""
        if self.running():
            self.process.kill()
        if self.process is not None:
            self.process.wait(timeout=30)

    def __enter__(self) -> "MilvusLiteServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
