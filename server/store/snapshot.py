"""Copies of what Redis holds, for backups (server/backup.py): an RDB snapshot, or a logical dump of facegrid's keys.

RDB (the embedded Redis): BGSAVE writes a point-in-time image of the whole data set, taken by a
forked child while the server goes on answering; it is consistent across every key. The file is
written in the Redis folder, so it is claimed at once by renaming it (atomic; a second backup at
the same moment saves again) and copied out, and the copy left in the data directory is deleted:
a snapshot there would hold subjects forgotten later, where the Forget scrub cannot see them.

Logical dump (an external Redis, where the RDB is written on another machine): every facegrid key
(SCAN) with its DUMP payload and expiry, in batches. It is not one point in time: a key written
during the dump may be caught before or after the write. Take it while no server writes, or use
the Redis's own backup for a consistent one. A DUMP payload carries the RDB version of the Redis
that made it: RESTORE accepts it on the same or a newer version of the same server family.

Dump file: records of key length (4 bytes, big-endian), key, expiry in ms (8 bytes, signed; -1:
none), payload length (4 bytes), payload.
"""

from __future__ import annotations

import os
import shutil
import struct
import time
import uuid
from pathlib import Path
from typing import BinaryIO, Iterator

import redis

KEY_PATTERN = "{fg*"  # every facegrid key: `{fg}:…`, `{fg:c:<c>}:…`, `{fg:audit}` (braces are plain in a glob)
_BATCH = 500


class SnapshotError(RuntimeError):
    """Redis could not make or load a copy (its message says why)."""


def save_rdb(client: redis.Redis, target: Path, timeout_s: float = 3600.0) -> None:
    """A BGSAVE of the server (it must run on this machine: the embedded Redis), moved to `target`."""
    config = client.config_get("dir") | client.config_get("dbfilename")
    written = Path(config["dir"]) / config["dbfilename"]
    deadline = time.monotonic() + timeout_s
    while True:
        saves = int(client.info("persistence").get("rdb_saves", -1))
        try:
            client.bgsave()
        except redis.ResponseError as error:
            if "in progress" not in str(error):
                raise SnapshotError(f"BGSAVE refused: {error}") from None
        info = _wait(client, lambda i: not int(i.get("rdb_bgsave_in_progress", 0))
                     and (saves < 0 or int(i.get("rdb_saves", 0)) > saves), deadline)
        if info.get("rdb_last_bgsave_status") != "ok":
            raise SnapshotError(f"BGSAVE failed (status {info.get('rdb_last_bgsave_status')!r}); see the Redis log")
        claimed = written.with_name(f"{written.name}.{uuid.uuid4().hex}.claimed")
        try:
            os.rename(written, claimed)  # ours alone now, whatever another BGSAVE does next
        except FileNotFoundError:
            continue  # another backup claimed this one: save again
        try:
            _copy(claimed, target)
        finally:
            claimed.unlink(missing_ok=True)
        return


def _wait(client: redis.Redis, finished, deadline: float) -> dict:
    while True:
        info = client.info("persistence")
        if finished(info):
            return info
        if time.monotonic() > deadline:
            raise SnapshotError("the snapshot did not finish in time")
        time.sleep(0.05)


def _copy(source: Path, target: Path) -> None:
    """Copy a file and make it durable (0600: the caller's umask is not trusted with biometric data)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(source, "rb") as reader, open(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as writer:
        shutil.copyfileobj(reader, writer, 1 << 20)
        writer.flush()
        os.fsync(writer.fileno())


def facegrid_keys(client: redis.Redis) -> Iterator[bytes]:
    """Every facegrid key (on a Redis Cluster, of every primary)."""
    yield from client.scan_iter(match=KEY_PATTERN, count=1000)


def dump_records(client: redis.Redis) -> Iterator[tuple[bytes, int, bytes]]:
    """(key, expiry in ms or -1, DUMP payload) of every facegrid key; keys gone meanwhile are left out."""
    batch: list[bytes] = []
    for key in facegrid_keys(client):
        batch.append(key)
        if len(batch) == _BATCH:
            yield from _dumped(client, batch)
            batch = []
    if batch:
        yield from _dumped(client, batch)


def _dumped(client: redis.Redis, keys: list[bytes]) -> Iterator[tuple[bytes, int, bytes]]:
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.dump(key)
        pipe.pttl(key)
    replies = pipe.execute()
    for key, payload, ttl in zip(keys, replies[0::2], replies[1::2]):
        if payload is not None:
            yield key, int(ttl) if int(ttl) > 0 else -1, payload


def write_dump(records: Iterator[tuple[bytes, int, bytes]], target: Path) -> int:
    """Write records to a dump file (0600); how many."""
    count = 0
    with open(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out:
        for key, ttl, payload in records:
            out.write(struct.pack(">I", len(key)) + key + struct.pack(">qI", ttl, len(payload)) + payload)
            count += 1
        out.flush()
        os.fsync(out.fileno())
    return count


def read_dump(source: Path) -> Iterator[tuple[bytes, int, bytes]]:
    """The records of a dump file."""
    with open(source, "rb") as reader:
        while True:
            head = reader.read(4)
            if not head:
                return
            key = _exactly(reader, struct.unpack(">I", head)[0])
            ttl, size = struct.unpack(">qI", _exactly(reader, 12))
            yield key, ttl, _exactly(reader, size)


def _exactly(reader: BinaryIO, size: int) -> bytes:
    data = reader.read(size)
    if len(data) != size:
        raise SnapshotError("the dump file ends in the middle of a record")
    return data


def restore_records(client: redis.Redis, records: Iterator[tuple[bytes, int, bytes]], replace: bool = False) -> int:
    """RESTORE every record (with REPLACE: over keys that exist); how many keys."""
    count, pipe = 0, client.pipeline(transaction=False)
    try:
        for key, ttl, payload in records:
            pipe.restore(key, max(ttl, 0), payload, replace=replace)
            count += 1
            if count % _BATCH == 0:
                pipe.execute()
        pipe.execute()
    except redis.ResponseError as error:
        raise SnapshotError(f"Redis refused a key of the backup: {error} (BUSYKEY: the target holds facegrid data; "
                            "a DUMP payload version error: this Redis is older than the one backed up, or of "
                            "another family)") from None
    return count


def holds_facegrid_data(client: redis.Redis) -> bool:
    """Whether any facegrid key is in this Redis."""
    return next(iter(client.scan_iter(match=KEY_PATTERN, count=1000)), None) is not None


def server_version(client: redis.Redis) -> dict[str, str]:
    """The server's family and version, e.g. {'server': 'valkey', 'version': '9.1.2'}."""
    info = client.info("server")
    if "valkey_version" in info:
        return {"server": "valkey", "version": str(info["valkey_version"])}
    return {"server": str(info.get("server_name", "redis")), "version": str(info.get("redis_version", "?"))}
