"""CLI commands for administration: `facegrid keys create|list|revoke|digest`, `facegrid audit`, `facegrid health`.

`keys` talks to a running server (AdminService, an `admin` key; or no key over loopback
while none exists yet), or, on the server's own machine, to its Redis directly with
`--data-dir DIR` (the embedded Redis) or `--redis-url URL`: that is how the first admin
key of a server listening beyond loopback is made.
"""

from __future__ import annotations

import argparse
import getpass
import json
import socket
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from .gate_commands import add_server_option, connect, report_error
from .results import ApiKeyInfo
from .sdk import FacegridError

SCOPE_NAMES = ("gate", "enroll", "library", "embed", "admin")


def _when(timestamp: float | None) -> str:
    return datetime.fromtimestamp(timestamp).isoformat(timespec="seconds") if timestamp else "-"


def _key_json(record: ApiKeyInfo) -> dict:
    return {"name": record.name, "scopes": record.scopes, "created_at": record.created_at,
            "last_used_at": record.last_used_at, "revoked": record.revoked, "revoked_at": record.revoked_at,
            "door": record.door or None}


def _local(args) -> bool:
    return bool(getattr(args, "data_dir", None) or getattr(args, "redis_url", None))


@contextmanager
def _local_keys(args):
    """Keys, and the audit log, in the server's Redis, reached directly (the embedded one is started if not running)."""
    import redis

    from facegrid.server.domain.keys import Keys
    from facegrid.server.store.api_keys import KeyStore
    from facegrid.server.store.audit import AuditStore
    from facegrid.server.store.connection import connect
    from facegrid.server.store.embedded_redis import EmbeddedRedis
    from facegrid.server.store.migrate import upgrade_layout

    embedded = None
    if args.redis_url:
        client = connect(args.redis_url, timeout=10)  # a Redis Cluster too
    else:
        embedded = EmbeddedRedis(Path(args.data_dir).expanduser() / "redis").start()
        client = redis.Redis.from_url(embedded.url, socket_timeout=10)
    upgrade_layout(client)  # before a new key is written under the tagged names
    try:
        yield Keys(KeyStore(client)), AuditStore(client, retention_days=None)
    finally:
        client.close()
        if embedded is not None:
            embedded.stop()  # only if this command started it; a running server's stays


def _local_audit(audit, decision: str, detail: str) -> None:
    from facegrid.server.store.audit import AuditEntry

    peer = f"local:{getpass.getuser()}@{socket.gethostname()}"
    audit.append(audit.redis, AuditEntry(key_name="local", rpc="facegrid keys", decision=decision, peer=peer, detail=detail))


def _as_info(record) -> ApiKeyInfo:
    return ApiKeyInfo(record.name, list(record.scopes), record.created_at, record.last_used_at, record.revoked, record.revoked_at,
                      record.door)


def _local_error(args, error: Exception) -> int:
    if args.json:
        print(json.dumps({"error": type(error).__name__, "message": str(error)}))
    else:
        print(f"facegrid: {error}", file=sys.stderr)
    return 2


def cmd_keys_digest(args) -> int:
    """Print the key's SHA-256 hex digest (and name): one line of an encoder role's keys file."""
    import hashlib
    import sys

    key = args.key if args.key is not None else sys.stdin.readline().strip()
    if not key:
        print("facegrid keys digest: no key given", file=sys.stderr)
        return 2
    line = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()
    print(f"{line} {args.name}" if args.name else line)
    return 0


def cmd_keys_create(args) -> int:
    """`facegrid keys create`: make a key on the server (or in its Redis directly) and print it, once."""
    scopes = list(dict.fromkeys(args.scope))
    if _local(args):
        from facegrid.server.domain.errors import InvalidKeyRequest, InvalidName, KeyExists

        try:
            with _local_keys(args) as (keys, audit):
                key, record = keys.create(args.name, scopes, args.door or "")
                _local_audit(audit, "created", f"key {record.name!r} scopes {','.join(record.scopes)}"
                             + (f" door {record.door!r}" if record.door else ""))
        except (InvalidKeyRequest, InvalidName, KeyExists) as error:
            return _local_error(args, error)
        info = _as_info(record)
    else:
        try:
            with connect(args) as client:
                created = client.create_key(args.name, scopes, args.door or "")
        except FacegridError as error:
            return report_error(args, error)
        key, info = created.key, created.record
    if args.json:
        print(json.dumps({"key": key, "name": info.name, "scopes": info.scopes, "door": info.door or None}))
    else:
        door = f", bound to door {info.door!r}" if info.door else ""
        print(f"key {info.name!r} with scopes {', '.join(info.scopes)}{door} (shown once: keep it now)")
        print(key)
    return 0


def cmd_keys_list(args) -> int:
    """`facegrid keys list`: every key's name, scopes, door and state (never the key)."""
    if _local(args):
        with _local_keys(args) as (keys, _):
            records = [_as_info(r) for r in keys.all()]
    else:
        try:
            with connect(args) as client:
                records = client.list_keys()
        except FacegridError as error:
            return report_error(args, error)
    if args.json:
        print(json.dumps({"keys": [_key_json(r) for r in records]}))
        return 0
    for r in records:
        state = f"revoked {_when(r.revoked_at)}" if r.revoked else f"last used {_when(r.last_used_at)}"
        door = f"  door {r.door}" if r.door else ""
        print(f"{r.name:24s} {','.join(r.scopes):32s} created {_when(r.created_at)}  {state}{door}")
    print(f"{len(records)} keys")
    return 0


def cmd_keys_revoke(args) -> int:
    """`facegrid keys revoke`: revoke a key by name, on the server or directly in its Redis."""
    if _local(args):
        from facegrid.server.domain.errors import KeyNotFound

        try:
            with _local_keys(args) as (keys, audit):
                record = _as_info(keys.revoke(args.name))
                _local_audit(audit, "revoked", f"key {record.name!r}")
        except KeyNotFound as error:
            return _local_error(args, error)
    else:
        try:
            with connect(args) as client:
                record = client.revoke_key(args.name)
        except FacegridError as error:
            return report_error(args, error)
    print(json.dumps(_key_json(record)) if args.json else f"key {record.name!r} revoked")
    return 0


def _since(text: str) -> float:
    """A Unix time, an ISO date/time (local time unless it says otherwise), or an age like 90m, 24h, 7d."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        if text[-1:] in units and text[:-1].replace(".", "", 1).isdigit():
            return time.time() - float(text[:-1]) * units[text[-1]]
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a time: {text!r} (try 2024-05-01T08:00, 1714550400 or 24h)") from None


def cmd_audit(args) -> int:
    """`facegrid audit`: print the audit log's entries, filtered by subject, time and door."""
    entries = []
    try:
        with connect(args) as client:
            for entry in client.audit(args.subject or "", args.since or 0.0, door=args.door or ""):
                entries.append(entry)
                if args.limit and len(entries) >= args.limit:
                    break
    except FacegridError as error:
        return report_error(args, error)
    if args.json:
        print(json.dumps({"entries": [vars(e) for e in entries]}))
        return 0
    for e in entries:
        score = f" score {e.score:.3f}" if e.score is not None else ""
        threshold = f" threshold {e.threshold:.3f}" if e.threshold is not None else ""
        when = datetime.fromtimestamp(e.time, timezone.utc).astimezone().isoformat(timespec="milliseconds")
        door = f" door {e.door}" + (f" {e.reason}" if e.reason else "") if e.door else ""
        print(f"{when} {e.key_name or '-':20s} {e.rpc:22s} {e.subject_id or '-':20s} {e.decision}{door}{score}{threshold}"
              f"{'  ' + e.detail if e.detail else ''}  [{e.peer}]")
    print(f"{len(entries)} entries")
    return 0


def cmd_health(args) -> int:
    """`facegrid health`: print a service's health status; exit 0 only when SERVING."""
    try:
        with connect(args) as client:
            status = client.health(args.service)
    except FacegridError as error:
        return report_error(args, error)
    print(json.dumps({"status": status}) if args.json else status)
    return 0 if status == "SERVING" else 1


def add_commands(commands) -> None:
    """`keys`, `audit` and `health`."""
    keys = commands.add_parser("keys", help="API keys: create (shown once), list, revoke").add_subparsers(dest="keys_command", required=True)

    def local_options(parser) -> None:
        parser.add_argument("--data-dir", help="on the server's machine: its data directory (the embedded Redis), instead of "
                                               "--server (needs the server install, facegrid[cpu] or [gpu])")
        parser.add_argument("--redis-url", help="on the server's machine: its Redis, instead of --server (needs the server install)")

    create = keys.add_parser("create", help="make a key; it is printed once")
    create.add_argument("--name", required=True, help="what the key is for, e.g. dining-hall-north (letters, digits, . _ -)")
    create.add_argument("--scope", action="append", required=True, choices=SCOPE_NAMES,
                        help="what it may do (repeat for several): gate (verify, identify), enroll (enroll, forget, "
                             "subjects, naming groups), library (photo libraries, vectors), embed, admin (keys, audit)")
    create.add_argument("--door", help="bind a gate key to this door: it may then only call Pass as that door "
                                       "(give it --scope gate alone)")
    add_server_option(create)
    local_options(create)
    create.set_defaults(run=cmd_keys_create)

    listing = keys.add_parser("list", help="every key (names and scopes, never the keys)")
    add_server_option(listing)
    local_options(listing)
    listing.set_defaults(run=cmd_keys_list)

    revoke = keys.add_parser("revoke", help="revoke a key by name: refused at once")
    revoke.add_argument("name")
    add_server_option(revoke)
    local_options(revoke)
    revoke.set_defaults(run=cmd_keys_revoke)

    digest = keys.add_parser("digest", help="a key's line for an encoder's FACEGRID_ENCODER_KEYS_FILE: its SHA-256, never the key")
    digest.add_argument("key", nargs="?", help="the key (default: read from standard input, which keeps it out of the shell history)")
    digest.add_argument("--name", default="", help="a name written after the digest (the encoder's log and audit use it)")
    digest.set_defaults(run=cmd_keys_digest)

    audit = commands.add_parser("audit", help="the audit log: gate decisions, enrollments, forgets, key changes (scope admin)")
    audit.add_argument("--subject", help="only entries about this subject")
    audit.add_argument("--door", help="only entries of this door (its Pass calls and rule changes)")
    audit.add_argument("--since", type=_since, help="from this time: ISO date/time, Unix time, or an age such as 24h or 7d")
    audit.add_argument("--limit", type=int, default=0, help="at most this many entries (default: all)")
    add_server_option(audit)
    audit.set_defaults(run=cmd_audit)

    health = commands.add_parser("health", help="the server's gRPC health (no key needed; exit 0 when SERVING)")
    health.add_argument("--service", default="", help="one service, e.g. facegrid.v1.GateService (default: the server)")
    add_server_option(health)
    health.set_defaults(run=cmd_health)
