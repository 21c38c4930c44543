"""CLI commands `facegrid backup DIR` and `facegrid restore DIR`, run on the server's machine (server/backup.py).

They reach the server's Redis directly (the embedded one through the data directory's socket, or `--redis-url`)
and its models directory; no key is needed, and so the files they write are the owner's alone (0700/0600).
"""

from __future__ import annotations

import json
import os
import sys


def _settings(args):
    from facegrid.server.config import Settings

    return Settings().with_overrides(data_dir=args.data_dir, redis_url=args.redis_url, models_dir=args.models_dir)


def cmd_backup(args) -> int:
    """`facegrid backup`: a backup of the Redis and the models directory (--keep-days prunes old ones)."""
    from facegrid.server.backup import BackupError, SnapshotError, take_backup

    os.umask(0o077)
    try:
        result = take_backup(_settings(args), args.dir, args.keep_days)
    except (BackupError, SnapshotError) as error:
        print(f"facegrid backup: {error}", file=sys.stderr)
        return 2
    manifest = result.manifest
    if args.json:
        print(json.dumps({"path": str(result.path), "subjects": manifest["subjects"], "redis": manifest["redis"],
                          "files": len(manifest["files"]), "pruned": [str(p) for p in result.pruned]}))
        return 0
    size = sum(f["bytes"] for f in manifest["files"].values())
    print(f"backup {result.path}: {manifest['subjects']} subjects, {len(manifest['files'])} files, {size / 1e6:.1f} MB "
          f"({'RDB snapshot' if manifest['redis']['kind'] == 'rdb' else 'logical dump'} of {manifest['redis']['server']} "
          f"{manifest['redis']['version']})")
    for path in result.pruned:
        print(f"deleted {path} (older than {args.keep_days:g} days)")
    print("it holds biometric data: keep it on encrypted storage, and delete it when its retention is over")
    return 0


def cmd_restore(args) -> int:
    """`facegrid restore`: put a backup back into the data directory (or Redis) and the models directory."""
    from facegrid.server.backup import BackupError, SnapshotError, restore_backup

    os.umask(0o077)
    try:
        result = restore_backup(_settings(args), args.dir, force=args.force)
    except (BackupError, SnapshotError) as error:
        print(f"facegrid restore: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"source": str(result.source), "target": result.target, "keys": result.keys,
                          "model_files": result.models, "forgotten_again": result.forgotten_again}))
        return 0
    print(f"restored {result.source} into {result.target}: {result.keys} Redis keys, {result.models} model files")
    if result.forgotten_again:
        print(f"forgot again {len(result.forgotten_again)} subjects forgotten after this backup was made")
    print("start the server on it: facegrid serve" + (f" --data-dir {args.data_dir}" if args.data_dir else ""))
    return 0


def add_commands(commands) -> None:
    """`backup` and `restore`."""

    def where(parser) -> None:
        parser.add_argument("--data-dir", help="the server's data directory (default: FACEGRID_DATA_DIR): its embedded Redis")
        parser.add_argument("--redis-url", help="an external Redis instead (default: FACEGRID_REDIS_URL)")
        parser.add_argument("--models-dir", help="the models directory (default: FACEGRID_MODELS_DIR, else <data_dir>/models)")
        parser.add_argument("--json", action="store_true", help="one JSON object on the last line")

    backup = commands.add_parser("backup", help="a consistent copy of the system of record (Redis) and imported models "
                                                "into a new folder DIR/facegrid-backup-<time>")
    backup.add_argument("dir", metavar="DIR", help="where backups are kept (made 0700)")
    backup.add_argument("--keep-days", type=float, default=None,
                        help="then delete the backups in DIR older than this many days (a forgotten subject stays in "
                             "older backups until they are deleted)")
    where(backup)
    backup.set_defaults(run=cmd_backup)

    restore = commands.add_parser("restore", help="restore a backup into an empty data directory (or --redis-url)")
    restore.add_argument("dir", metavar="DIR", help="a backup folder, or a folder of backups (the newest is taken)")
    restore.add_argument("--force", action="store_true", help="replace the facegrid data and models already there")
    where(restore)
    restore.set_defaults(run=cmd_restore)
