"""After a Forget, rewrite Redis's append-only file so the subject's bytes leave the disk.

Redis answers a DEL from memory at once, but the AOF keeps every command that ever wrote the
subject (its name, its templates' vectors) until the file is rewritten, which Redis does on its
own only after the file has doubled (for a large data set, tens of megabytes of later writes).
A rewrite (BGREWRITEAOF) writes a new base file from memory, where the subject no longer is,
opens a new increment file, and deletes the old base and increments (Valkey/Redis 7 multi-part
AOF: `appendonlydir/` and its manifest). So a Forget asks for one.

Rewrites are coalesced: one per `min_interval_s` at most, however many Forgets come. A rewrite
counts for the Forgets that finished before it started (those after it were written to its new
increment file); a Forget during a rewrite gets the next one. A Forget is therefore off the disk
within about `min_interval_s` plus two rewrite times (docs/security.md gives the figure).

With the embedded Redis the folder is known: after each rewrite the AOF directory is checked to
hold exactly the files its manifest names (the old parts deleted). With an external Redis the
rewrite is asked for where Redis allows it (a managed Redis may refuse BGREWRITEAOF; that is
logged once) and its files are not ours to check; its RDB snapshots and replicas keep data until
their own rotation.

Other steps that make removed data unrecoverable (Milvus compaction) run after each rewrite.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Callable

import redis

from .connection import is_cluster
from .schema import FORGOTTEN, SCRUBBED_AT

log = logging.getLogger("facegrid.server")

MANIFEST = "appendonly.aof.manifest"


class ForgetScrub:
    """Coalesces scrub requests into at most one AOF rewrite (plus `also` steps) per `min_interval_s`."""

    def __init__(self, client: redis.Redis, min_interval_s: float = 10.0, aof_dir: Path | None = None,
                 also: tuple[Callable[[], None], ...] = (), timeout_s: float = 600.0) -> None:
        self.redis = client
        self.min_interval_s = min_interval_s
        self.aof_dir = aof_dir  # the embedded Redis's appendonlydir, checked after each rewrite
        self.also = also
        self.timeout_s = timeout_s
        self._wake = threading.Condition()
        self._pending = False  # a request came after the last rewrite was asked for
        self._started = -float("inf")  # monotonic time the last rewrite was asked for (it covers earlier requests)
        self._stopping = False
        self._refused = False  # Redis refused BGREWRITEAOF (a managed Redis): not asked again
        self._thread: threading.Thread | None = None
        self.last_seconds: float | None = None  # how long the last rewrite took

    def start(self) -> "ForgetScrub":
        """Start the scrubbing thread; a rewrite at once where one is owed (a server stopped or killed before its
        rewrite, or a Redis never rewritten since its upgrade)."""
        if self.owed():
            self.request()
        self._thread = threading.Thread(target=self._run, name="forget-scrub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the scrub thread (a rewrite not yet due is left to the next start)."""
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def owed(self) -> bool:
        """Whether a Forget came after the last rewrite asked for (or none was ever asked for)."""
        done = self.redis.get(SCRUBBED_AT)
        newest = self.redis.zrevrange(FORGOTTEN, 0, 0, withscores=True)
        return done is None or bool(newest) and newest[0][1] >= float(done)

    def request(self) -> None:
        """A Forget has been written: rewrite the AOF soon (never blocks the caller)."""
        with self._wake:
            self._pending = True
            self._wake.notify_all()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stopping and not self._pending:
                    self._wake.wait()
                if self._stopping:
                    return
                pause = self._started + self.min_interval_s - time.monotonic()
            if pause > 0:
                with self._wake:
                    self._wake.wait_for(lambda: self._stopping, timeout=pause)
                continue  # look again: stopping, or the interval is over
            try:
                self.scrub()
            except Exception:  # noqa: BLE001 - a failed rewrite is retried after the interval; the gate goes on
                self.request()
                log.exception("forget scrub: the append-only file rewrite failed; retried in %.0f s", self.min_interval_s)

    def scrub(self) -> None:
        """One rewrite now (and the `also` steps), waited for: the requests made before it are covered."""
        with self._wake:
            self._pending = False  # requests from now on need the next rewrite
            self._started = time.monotonic()
        begun, asked_at = time.perf_counter(), time.time()
        if not self._refused and self._rewrite():
            self.redis.set(SCRUBBED_AT, repr(asked_at))
            self.last_seconds = time.perf_counter() - begun
            log.info("forget scrub: append-only file rewritten in %.2f s", self.last_seconds)
        for step in self.also:
            try:
                step()
            except Exception as error:  # noqa: BLE001 - Milvus down: it compacts on its own schedule too; not retried
                log.warning("forget scrub: %s", error)

    def _rewrite(self) -> bool:
        """BGREWRITEAOF, waited for; False where Redis refuses it."""
        if is_cluster(self.redis):  # every primary rewrites its own file; their progress is not followed here
            self.redis.bgrewriteaof(target_nodes=self.redis.get_primaries())
            return True
        deadline = time.monotonic() + self.timeout_s
        while True:
            before = int(self.redis.info("persistence").get("aof_rewrites", 0))
            try:
                self.redis.bgrewriteaof()  # "started" or "scheduled" (after a snapshot in progress): either starts after now
                break
            except redis.ResponseError as error:
                if "in progress" not in str(error):  # renamed or refused (a managed Redis): say so once
                    self._refused = True
                    log.warning("forget scrub: Redis refuses BGREWRITEAOF (%s): forgotten subjects stay in its "
                                "append-only file until Redis rewrites it on its own", error)
                    return False
            # A rewrite that began before this request may hold the subject: wait for it, then ask for another.
            self._wait(lambda info: not int(info.get("aof_rewrite_in_progress", 0)), deadline)
        # (Redis before 7 does not count rewrites: there, not in progress and not scheduled is enough.)
        info = self._wait(lambda info: ("aof_rewrites" not in info or int(info["aof_rewrites"]) > before)
                          and not int(info.get("aof_rewrite_in_progress", 0))
                          and not int(info.get("aof_rewrite_scheduled", 0)), deadline)
        if info.get("aof_last_bgrewrite_status") != "ok":
            raise RuntimeError(f"BGREWRITEAOF ended with status {info.get('aof_last_bgrewrite_status')!r}")
        if self.aof_dir is not None:
            self._check_old_parts_gone(deadline)
        return True

    def _wait(self, finished: Callable[[dict], bool], deadline: float) -> dict:
        while True:
            info = self.redis.info("persistence")
            if finished(info):
                return info
            if time.monotonic() > deadline:
                raise TimeoutError(f"the append-only file rewrite did not finish within {self.timeout_s:.0f} s")
            time.sleep(0.05)

    def _check_old_parts_gone(self, deadline: float) -> None:
        """The AOF directory holds exactly its manifest's files: the parts of before the rewrite are deleted (Redis
        deletes them in a background thread just after the rewrite)."""
        while True:
            left = leftover_parts(self.aof_dir)
            if not left:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"old append-only file parts are still in {self.aof_dir}: {sorted(left)}")
            time.sleep(0.05)


def leftover_parts(aof_dir: Path) -> set[str]:
    """Files in an AOF directory that its manifest does not name as current (history parts, temp files)."""
    manifest = aof_dir / MANIFEST
    if not manifest.is_file():
        return set()
    current = {MANIFEST}
    for line in manifest.read_text().splitlines():
        fields = line.split()
        values = dict(zip(fields[0::2], fields[1::2]))  # file NAME seq N type b|i|h
        if "file" in values and values.get("type") != "h":
            current.add(values["file"])
    return {p.name for p in aof_dir.iterdir() if p.name not in current}
