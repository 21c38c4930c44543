"""`facegrid backup DIR` and `facegrid restore DIR`: the system of record and the imported models, to another machine.

A backup is a folder `DIR/facegrid-backup-<UTC time>/` (0700, files 0600: it holds biometric data) with:

    manifest.json    format, facegrid version, Redis family and version, when it was made, how many keys and
                     subjects, the forget log (pseudonyms and times), and the SHA-256 and size of every file
    redis/dump.rdb   the embedded Redis: one consistent RDB snapshot (BGSAVE), made while the server runs or not
    redis/keys.dump  an external Redis (`--redis-url`): a logical dump of facegrid's keys (store/snapshot.py says
                     what it does and does not promise; a managed Redis's own backup is the consistent one)
    models/…         the models directory: imported liveness and tower model folders (converted graphs in the cache
                     are derived and made again)

Redis holds everything else: subjects, templates, photo records, collections, API keys (hashes only), doors,
the audit log and the pseudonym secret.

Restore checks the manifest (format, every file's SHA-256 and size, a schema this version reads) before it
touches anything, then fills an empty data directory (or, with `--redis-url`, an empty Redis) and the models
directory; refuses one that holds data unless `--force`; never while a server runs on it. The RDB is loaded by
a Valkey of this machine, which writes its append-only file from it, so `facegrid serve` starts on it as on any
data directory and rebuilds FAISS from Redis.

Forget and backups: a backup taken before a Forget still holds the subject until the backup is deleted;
`--keep-days N` deletes this folder's backups older than N days after each new one. Restoring an older backup
forgets again everyone the newer backups beside it record as forgotten since (by pseudonym, the same secret), so a
roll-back to an older backup does not bring them back; Forgets after the newest backup are not known to it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata as package_metadata
from pathlib import Path

import redis

from .config import Settings
from .store.connection import connect, redact, wait_until_ready
from .store.embedded_redis import RESTORING as _RESTORED_RDB, EmbeddedRedis
from .store.forget_names import unname_subject
from .store.forget_scrub import ForgetScrub
from .store.probe_thumbnails import ProbeThumbnailStore
from .store.migrate import upgrade_layout, upgrade_privacy
from .store.private_files import private_folder, private_tree
from .store.schema import LAYOUT, LAYOUT_KEY, PRIVACY, PRIVACY_KEY
from .store.snapshot import (SnapshotError, dump_records, holds_facegrid_data, read_dump, restore_records, save_rdb,
                             server_version, write_dump)
from .store.subjects import SubjectStore

FORMAT = 1
MANIFEST = "manifest.json"
PREFIX = "facegrid-backup-"
RDB, DUMP = "redis/dump.rdb", "redis/keys.dump"


class BackupError(RuntimeError):
    """A backup or restore that cannot go ahead; the message says why and what to do."""


@dataclass
class BackupResult:
    """What a backup wrote: its folder, its manifest and the old backups pruned."""

    path: Path
    manifest: dict
    pruned: list[Path] = field(default_factory=list)


@dataclass
class RestoreResult:
    """What a restore did: from where, to where, and how many keys, model files and forgets it applied."""

    source: Path
    target: str  # the data directory, or the Redis URL (without its password)
    keys: int
    models: int  # model files copied
    forgotten_again: list[str] = field(default_factory=list)  # pseudonyms forgotten since the backup, applied


# --- backup ------------------------------------------------------------------------------------------------------


def take_backup(settings: Settings, parent: Path, keep_days: float | None = None) -> BackupResult:
    """A new backup under `parent` of the settings' Redis (embedded or `redis_url`) and models directory."""
    parent = private_folder(Path(parent).expanduser())
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    folder = parent / f"{PREFIX}{stamp}"
    partial = parent / f".{PREFIX}{stamp}.partial"  # renamed into place once complete: a crash leaves no half backup
    private_folder(partial / "redis")
    try:
        manifest = {"format": FORMAT, "facegrid": _facegrid_version(), "created_at": time.time(),
                    "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        with _open_redis(settings, must_exist=True) as (client, embedded):
            manifest["redis"] = {**server_version(client), "kind": "rdb" if embedded else "keys",
                                 "layout": int(client.get(LAYOUT_KEY) or 0), "privacy": int(client.get(PRIVACY_KEY) or 0)}
            store = SubjectStore(client)
            if embedded:
                save_rdb(client, partial / RDB)
            else:
                manifest["redis"]["keys"] = write_dump(dump_records(client), partial / DUMP)
            manifest["subjects"] = store.count_subjects()
            manifest["forgotten"] = store.pseudonyms.forgotten()
        models = settings.encoder().models_dir
        if models.is_dir():
            shutil.copytree(models, partial / "models", symlinks=False, dirs_exist_ok=True)
        private_tree(partial)
        manifest["files"] = {str(p.relative_to(partial)): _file_entry(p) for p in sorted(partial.rglob("*")) if p.is_file()}
        _write_json(partial / MANIFEST, manifest)
        partial.rename(folder)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    pruned = prune(parent, keep_days, keep=folder) if keep_days is not None else []
    return BackupResult(folder, manifest, pruned)


def prune(parent: Path, keep_days: float, keep: Path) -> list[Path]:
    """Delete the backups in `parent` made more than `keep_days` days ago (never `keep`); those deleted."""
    cutoff = time.time() - keep_days * 86400
    deleted = []
    for folder in backups_in(parent):
        if folder != keep and read_manifest(folder)["created_at"] < cutoff:
            shutil.rmtree(folder)
            deleted.append(folder)
    return deleted


def backups_in(parent: Path) -> list[Path]:
    """The complete backups in a folder, oldest first."""
    found = [p for p in Path(parent).glob(PREFIX + "*") if (p / MANIFEST).is_file()]
    return sorted(found, key=lambda p: read_manifest(p)["created_at"])


# --- restore -----------------------------------------------------------------------------------------------------


def find_backup(path: Path) -> Path:
    """The backup at `path`: the folder itself, or the newest backup in it."""
    path = Path(path).expanduser()
    if (path / MANIFEST).is_file():
        return path
    found = backups_in(path) if path.is_dir() else []
    if not found:
        raise BackupError(f"no facegrid backup at {path} (a folder with {MANIFEST}, or one holding {PREFIX}* folders)")
    return found[-1]


def verify(folder: Path) -> dict:
    """The backup's manifest, once its format, schema and every file's size and SHA-256 check out."""
    manifest = read_manifest(folder)
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{folder}: backup format {manifest.get('format')!r}; this facegrid reads format {FORMAT}")
    redis_part = manifest.get("redis", {})
    if int(redis_part.get("layout", 0)) > LAYOUT or int(redis_part.get("privacy", 0)) > PRIVACY:
        raise BackupError(f"{folder} was made by facegrid {manifest.get('facegrid')}, whose data this version does not "
                          "read: install that version or newer")
    for name, expected in manifest.get("files", {}).items():
        path = folder / name
        if not path.is_file():
            raise BackupError(f"{folder}: {name} is missing")
        if _file_entry(path) != expected:
            raise BackupError(f"{folder}: {name} does not match its SHA-256 in the manifest (damaged or altered)")
    if (RDB if redis_part.get("kind") == "rdb" else DUMP) not in manifest.get("files", {}):
        raise BackupError(f"{folder}: the manifest names no Redis data")
    return manifest


def restore_backup(settings: Settings, source: Path, force: bool = False) -> RestoreResult:
    """Restore a backup into the settings' data directory (or Redis at `redis_url`) and models directory."""
    folder = find_backup(source)
    manifest = verify(folder)
    newer = _forgotten_since(folder, manifest)
    models = settings.encoder().models_dir
    _check_empty_models(folder, models, force)
    if settings.redis_url:
        keys, again = _restore_into_url(settings.redis_url, folder, manifest, newer, force)
        target = redact(settings.redis_url)
    else:
        keys, again = _restore_into_data_dir(settings.data_dir, folder, manifest, newer, force)
        target = str(settings.data_dir)
    copied = _restore_models(folder, models)
    return RestoreResult(folder, target, keys, copied, again)


def _restore_into_data_dir(data_dir: Path, folder: Path, manifest: dict, newer: dict[str, float], force: bool) -> tuple[int, list[str]]:
    redis_dir = private_folder(Path(data_dir) / "redis")
    embedded = EmbeddedRedis(redis_dir)
    if embedded.answers():
        raise BackupError(f"a server is running on {data_dir}: stop it before restoring into its data directory")
    aof = redis_dir / "appendonlydir"
    if aof.exists() and any(aof.iterdir()):
        if not force:
            raise BackupError(f"{data_dir} holds facegrid data already: restore into an empty data directory, or give "
                              "--force to replace it")
        shutil.rmtree(aof)
    if manifest["redis"]["kind"] == "rdb":
        # This machine's Valkey loads the snapshot with the AOF off, then writes its AOF from memory.
        shutil.copyfile(folder / RDB, redis_dir / _RESTORED_RDB)
        loader = EmbeddedRedis(redis_dir, extra_config=("appendonly no", f"dbfilename {_RESTORED_RDB}"))
        try:
            _start(loader, manifest)
            client = connect(loader.url, timeout=60)
            again = _forget_again(client, newer)
            keys = int(client.dbsize())
            client.config_set("appendonly", "yes")
            _wait_for_aof(client)
        finally:
            loader.stop()
            (redis_dir / _RESTORED_RDB).unlink(missing_ok=True)
    else:
        server = EmbeddedRedis(redis_dir).start()
        try:
            client = connect(server.url, timeout=60)
            restore_records(client, read_dump(folder / DUMP))
            again = _forget_again(client, newer)
            keys = int(client.dbsize())
            if again:  # they were in the AOF for a moment: rewrite it
                ForgetScrub(client, aof_dir=redis_dir / "appendonlydir").scrub()
        finally:
            server.stop()
    private_tree(data_dir)
    return keys, again


def _restore_into_url(url: str, folder: Path, manifest: dict, newer: dict[str, float], force: bool) -> tuple[int, list[str]]:
    client = connect(url, timeout=60)
    wait_until_ready(client, redact(url), 30)
    if holds_facegrid_data(client) and not force:
        raise BackupError(f"the Redis at {redact(url)} holds facegrid data already: restore into an empty one, or give "
                          "--force to replace the keys the backup has")
    if manifest["redis"]["kind"] == "keys":
        keys = restore_records(client, read_dump(folder / DUMP), replace=force)
    else:  # an RDB: loaded by a Valkey of this machine in a scratch folder, its keys copied over
        with tempfile.TemporaryDirectory(prefix="facegrid-restore-") as scratch:
            shutil.copyfile(folder / RDB, Path(scratch) / _RESTORED_RDB)
            loader = EmbeddedRedis(Path(scratch), extra_config=("appendonly no", f"dbfilename {_RESTORED_RDB}"))
            try:
                _start(loader, manifest)
                keys = restore_records(client, dump_records(connect(loader.url, timeout=60)), replace=force)
            finally:
                loader.stop()
    return keys, _forget_again(client, newer)


def _start(loader: EmbeddedRedis, manifest: dict) -> None:
    try:
        loader.start()
    except RuntimeError as error:
        made_by = f"{manifest['redis'].get('server')} {manifest['redis'].get('version')}"
        raise BackupError(f"this machine's Valkey cannot load the backup's snapshot (made by {made_by}; a newer "
                          f"snapshot format than this Valkey reads?): {error}") from None


def _wait_for_aof(client: redis.Redis, timeout_s: float = 3600.0) -> None:
    """After `CONFIG SET appendonly yes`: wait until the AOF is written from memory and on."""
    deadline = time.monotonic() + timeout_s
    while True:
        info = client.info("persistence")
        if int(info.get("aof_enabled", 0)) and not int(info.get("aof_rewrite_in_progress", 0)) \
                and not int(info.get("aof_rewrite_scheduled", 0)):
            if info.get("aof_last_bgrewrite_status") != "ok":
                raise BackupError("Valkey could not write its append-only file from the backup; see redis.log")
            return
        if time.monotonic() > deadline:
            raise BackupError("Valkey did not finish writing its append-only file from the backup")
        time.sleep(0.05)


def _forget_again(client: redis.Redis, forgotten: dict[str, float]) -> list[str]:
    """Forget the restored subjects that a newer backup records as forgotten after they were enrolled; their
    pseudonyms. The restored Redis is brought to this version's schema first (a backup of an older one)."""
    upgrade_layout(client)
    upgrade_privacy(client)
    if not forgotten:
        return []
    store = SubjectStore(client)
    again = []
    for record, _ in store.everything():
        pseudonym = store.pseudonyms.of(record.subject_id)
        if pseudonym in forgotten and record.created_at <= forgotten[pseudonym]:  # not one enrolled again after
            store.delete_subject(record.subject_id)
            unname_subject(client, record.subject_id, pseudonym)
            ProbeThumbnailStore(client).forget(record.subject_id)
            again.append(pseudonym)
    return again


def _forgotten_since(folder: Path, manifest: dict) -> dict[str, float]:
    """Pseudonym -> time forgotten, from the newer backups beside this one (the same system: the same secret)."""
    forgotten: dict[str, float] = {}
    for other in backups_in(folder.parent):
        other_manifest = read_manifest(other)
        if other_manifest["created_at"] > manifest["created_at"]:
            for pseudonym, when in other_manifest.get("forgotten", {}).items():
                forgotten[pseudonym] = max(forgotten.get(pseudonym, 0.0), float(when))
    return forgotten


def _check_empty_models(folder: Path, models: Path, force: bool) -> None:
    backed_up = {p.name for p in (folder / "models").iterdir()} if (folder / "models").is_dir() else set()
    clashing = sorted(backed_up & {p.name for p in models.iterdir()}) if models.is_dir() else []
    if clashing and not force:
        raise BackupError(f"the models directory {models} already has {', '.join(clashing)}: give --force to replace them")


def _restore_models(folder: Path, models: Path) -> int:
    source = folder / "models"
    if not source.is_dir():
        return 0
    private_folder(models)
    for model in source.iterdir():
        target = models / model.name
        if target.is_dir():
            shutil.rmtree(target)
        if model.is_dir():
            shutil.copytree(model, target)
        else:
            shutil.copyfile(model, target)
    private_tree(models)
    return sum(1 for p in source.rglob("*") if p.is_file())


# --- plumbing ----------------------------------------------------------------------------------------------------


class _open_redis:
    """The settings' Redis: at `redis_url`, or the embedded one (the running server's, reached by its socket, or
    started for the backup and stopped after). Yields (client, embedded?)."""

    def __init__(self, settings: Settings, must_exist: bool) -> None:
        self.settings, self.must_exist = settings, must_exist
        self.embedded: EmbeddedRedis | None = None

    def __enter__(self) -> tuple[redis.Redis, bool]:
        if self.settings.redis_url:
            client = connect(self.settings.redis_url, timeout=60)
            wait_until_ready(client, redact(self.settings.redis_url), 30)
            return client, False
        redis_dir = Path(self.settings.data_dir) / "redis"
        self.embedded = EmbeddedRedis(redis_dir)
        if self.must_exist and not self.embedded.answers() and not (redis_dir / "appendonlydir").is_dir():
            raise BackupError(f"no facegrid data in {self.settings.data_dir} (give --data-dir, or --redis-url)")
        self.embedded.start(self.settings.redis_start_timeout)
        return connect(self.embedded.url, timeout=60), True

    def __exit__(self, *exc) -> None:
        if self.embedded is not None:
            self.embedded.stop()  # only if this process started it


def read_manifest(folder: Path) -> dict:
    try:
        return json.loads((Path(folder) / MANIFEST).read_text())
    except (OSError, ValueError) as error:
        raise BackupError(f"{folder}: cannot read {MANIFEST}: {error}") from None


def _file_entry(path: Path) -> dict:
    digest = hashlib.sha256()
    with open(path, "rb") as reader:
        for block in iter(lambda: reader.read(1 << 20), b""):
            digest.update(block)
    return {"sha256": digest.hexdigest(), "bytes": path.stat().st_size}


def _write_json(path: Path, value: dict) -> None:
    path.touch(mode=0o600)
    path.write_text(json.dumps(value, indent=1, sort_keys=True) + "\n")


def _facegrid_version() -> str:
    try:
        return package_metadata.version("facegrid")
    except package_metadata.PackageNotFoundError:
        return "unknown"


__all__ = ["BackupError", "BackupResult", "RestoreResult", "SnapshotError", "find_backup", "prune", "restore_backup",
           "take_backup", "verify"]
