"""Bulk work never starves the gate: stream caps, idle streams ended, one photo budget, dead workers replaced.

Real servers over real sockets; the server's worker processes are found and killed through /proc.
"""

from __future__ import annotations

import os
import queue
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest

from facegrid.clients.sdk import FacegridError

from helpers import running_server

ANGELINA = "deepface/id01_angelina_jolie"
UNKNOWN_HASH = "ab" * 32


def photos(faces_dir, folder: str) -> list[Path]:
    return [p for p in sorted((faces_dir / folder).iterdir()) if p.is_file()]


class Stream:
    """An IndexPhotos stream run on its own thread: it sends what `send` is given, until `close`."""

    def __init__(self, client, collection: str) -> None:
        self.outbox: queue.Queue = queue.Queue()
        self.results: queue.Queue = queue.Queue()
        self.error: FacegridError | None = None
        self.ended = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(client, collection), daemon=True)
        self._thread.start()

    def _requests(self):
        while (item := self.outbox.get()) is not None:
            yield item

    def _run(self, client, collection: str) -> None:
        try:
            for result in client.index_photos(self._requests(), collection):
                self.results.put(result)
        except FacegridError as error:
            self.error = error
        finally:
            self.ended.set()

    def send(self, *item) -> None:
        self.outbox.put(item)

    def result(self, timeout: float = 60):
        return self.results.get(timeout=timeout)

    def live(self) -> "Stream":
        """Send a hash the server does not hold (answered at once, nothing embedded): proof the stream runs."""
        self.send("probe.jpg", b"", UNKNOWN_HASH)
        assert self.result().error_code == "FAILED_PRECONDITION"
        return self

    def close(self, timeout: float = 60) -> None:
        self.outbox.put(None)
        assert self.ended.wait(timeout)


def worker_processes(server_pid: int) -> list[int]:
    """The server's embedding workers: its children started by multiprocessing's spawn (not Redis, not the tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if parent == server_pid and b"spawn_main" in command:
            found.append(int(entry.name))
    return found


def kill_and_wait(pid: int) -> None:
    """SIGKILL, then wait until the process is reaped (so its pool has seen it die)."""
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists()


@pytest.fixture(scope="module")
def server(tmp_path_factory, faces_dir):
    """Default caps (8 streams); one embedding worker, so one kill breaks its pool."""
    with running_server(tmp_path_factory.mktemp("isolation"), {"FACEGRID_INDEX_WORKERS": "1"}) as server:
        with server.client(timeout=120) as client:
            client.enroll("angelina", photos(faces_dir, ANGELINA)[:2])
        yield server


def test_eight_idle_streams_do_not_starve_verify_and_a_ninth_is_refused(server, faces_dir):
    probe = photos(faces_dir, ANGELINA)[3].read_bytes()
    with server.client(timeout=30) as client:
        streams = [Stream(client, "idle").live() for _ in range(8)]  # each holds a gRPC thread, sending nothing
        try:
            with ThreadPoolExecutor(16) as callers:
                answers = list(callers.map(lambda _: client.verify("angelina", probe), range(16)))
            assert all(a.match for a in answers)  # all 16 answered within their 30 s deadline
            ninth = Stream(client, "idle")
            assert ninth.ended.wait(30)
            assert ninth.error.code == grpc.StatusCode.RESOURCE_EXHAUSTED and "FACEGRID_MAX_STREAMS" in ninth.error.message
            # An embedding stream counts against the same cap: refused as a whole, at once.
            with pytest.raises(FacegridError) as refused:
                list(client.embed_many([("t", "fused", "photo", probe)]))
            assert refused.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED and "FACEGRID_MAX_STREAMS" in refused.value.message
        finally:
            for stream in streams:
                stream.close()
        assert not any(s.error for s in streams)
        Stream(client, "idle").live().close()  # the slots are free again


def test_a_killed_worker_is_replaced_and_the_next_stream_works(server, faces_dir):
    pictures = photos(faces_dir, "deepface/id10_katy_perry")
    with server.client(timeout=120) as client:
        first = list(client.index_photos([(str(pictures[0]), pictures[0].read_bytes())], "killed"))
        assert first[0].faces >= 1
        workers = worker_processes(server.process.pid)
        assert len(workers) == 1
        kill_and_wait(workers[0])  # killed while idle, as the OOM killer would
        after = list(client.index_photos([(str(p), p.read_bytes()) for p in pictures[1:3]], "killed"))
        assert [r.error_code for r in after] == ["", ""] and all(r.faces >= 1 for r in after)
        assert worker_processes(server.process.pid) not in ([], workers)  # a new worker took over


def test_a_worker_killed_mid_stream_fails_only_its_photos(server, faces_dir):
    pictures = photos(faces_dir, "deepface/id03_scarlett_johansson")  # 7 photos
    with server.client(timeout=120) as client:
        stream = Stream(client, "mid-stream")
        stream.send(str(pictures[0]), pictures[0].read_bytes())
        assert stream.result().faces >= 1  # the worker is up
        for picture in pictures[1:5]:
            stream.send(str(picture), picture.read_bytes())
        kill_and_wait(worker_processes(server.process.pid)[0])
        results = [stream.result() for _ in pictures[1:5]]
        for result in results:  # each photo indexed (sent after the kill) or told its worker died (in flight)
            assert result.error_code in ("", "UNAVAILABLE"), result.error
            assert result.error_code == "" or "worker process died" in result.error
        stream.send(str(pictures[5]), pictures[5].read_bytes())  # the same stream goes on
        assert stream.result().error_code == ""
        stream.close()
        assert stream.error is None
        retried = [r for r in results if r.error_code == "UNAVAILABLE"]
        again = list(client.index_photos([(r.path, Path(r.path).read_bytes()) for r in retried], "mid-stream"))
        assert all(r.error_code == "" for r in again)  # sent again, they go in
        print(f"photos in flight when the worker died: {len(retried)} of {len(results)}")


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory):
    """Two stream slots, streams ended after 1.5 s of silence, 1 MB of photos in flight for all streams."""
    env = {"FACEGRID_MAX_STREAMS": "2", "FACEGRID_STREAM_IDLE_S": "1.5", "FACEGRID_INFLIGHT_MB": "1",
           "FACEGRID_INDEX_WORKERS": "1"}
    with running_server(tmp_path_factory.mktemp("strict"), env) as server:
        yield server


def test_an_idle_stream_is_ended_and_frees_its_slot(strict_server):
    with strict_server.client(timeout=60) as client:
        streams = [Stream(client, "quiet").live() for _ in range(2)]
        third = Stream(client, "quiet")
        assert third.ended.wait(30) and third.error.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        for stream in streams:  # they send nothing more: the server ends them
            assert stream.ended.wait(30)
            assert stream.error.code == grpc.StatusCode.DEADLINE_EXCEEDED
            assert "FACEGRID_STREAM_IDLE_S" in stream.error.message
        Stream(client, "quiet").live().close()  # their slots are free


def test_streams_share_the_photo_budget_without_losing_a_photo(strict_server, faces_dir):
    """With 1 MB for all streams, two streams of multi-megabyte photos take turns; every photo goes in."""
    folders = ["deepface/id02_jennifer_aniston", "deepface/id12_leonardo_dicaprio"]
    sent = [photos(faces_dir, folder)[:3] for folder in folders]
    assert max(p.stat().st_size for group in sent for p in group) > 1_000_000  # some photos exceed the budget alone
    with strict_server.client(timeout=180) as client:
        def index(group: list[Path]) -> list:
            return list(client.index_photos([(str(p), p.read_bytes()) for p in group], "budget"))

        with ThreadPoolExecutor(2) as runs:
            results = list(runs.map(index, sent))
        assert [[r.error for r in group] for group in results] == [["", "", ""], ["", "", ""]]
        assert client.stats("budget").photos == 6
