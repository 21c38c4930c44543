"""Upgrades of a Redis written by an older facegrid: the untagged key names of before (layout 1) to the hash tags
of schema.py, and subject ids in the audit log and change feed to pseudonyms and numbers (`upgrade_privacy`).

Run once at start, before anything reads or writes: every key named `fg:…` is moved to its
tagged name (`schema.legacy_name_map`), and `{fg}:layout` is set to LAYOUT once none is left,
so later starts skip the scan.

Crash-safe and idempotent: on one Redis each move is a RENAMENX (atomic: the key has either
name, never both, never neither); on a Redis Cluster, where a rename may not cross slots, it
is DUMP, RESTORE under the new name (with the old expiry), then DEL of the old one, and a
move found half done (both names, same value) is finished by the DEL. A start that dies
midway is followed by one that moves what is left. Both names holding different values (a
server of the old version still writing after the upgrade: stop every server before
upgrading) is left alone and logged, never overwritten.
"""

from __future__ import annotations

import logging

import redis

from .connection import is_cluster
from .pseudonyms import Pseudonyms, is_pseudonym
from .schema import AUDIT, CHANGES, LAYOUT, LAYOUT_KEY, LEGACY_PREFIX, PRIVACY, PRIVACY_KEY, SUBJECTS, legacy_name_map

log = logging.getLogger("facegrid.server")


class LayoutConflict(RuntimeError):
    """A key exists under both its old and its new name with different values."""


def upgrade_layout(client: redis.Redis) -> int:
    """Move every layout-1 key to its layout-2 name; how many were moved (0 on an upgraded or new Redis)."""
    if int(client.get(LAYOUT_KEY) or 0) >= LAYOUT:
        return 0
    cluster = is_cluster(client)
    moved, conflicts = 0, []
    for raw in list(client.scan_iter(match=LEGACY_PREFIX + "*", count=1000)):
        old = raw.decode() if isinstance(raw, bytes) else raw
        new = legacy_name_map(old)
        if new is None:
            continue
        try:
            done = _move_across_slots(client, old, new) if cluster else _rename(client, old, new)
        except LayoutConflict:
            conflicts.append(old)
            continue
        moved += done
    if conflicts:
        log.error("key layout upgrade: %d keys exist under both their old and new names with different values "
                  "(an older server still running?); left as they are, e.g. %s", len(conflicts), conflicts[:3])
    else:
        client.set(LAYOUT_KEY, LAYOUT)
    if moved:
        log.info("key layout upgraded: %d keys renamed to their hash-tagged names", moved)
    return moved


def _rename(client: redis.Redis, old: str, new: str) -> int:
    """RENAMENX on one Redis: 1 if moved, 0 if the old key is gone already."""
    try:
        if client.renamenx(old, new):
            return 1
    except redis.ResponseError as error:
        if "no such key" in str(error).lower():
            return 0  # moved by a concurrent start
        raise
    raise LayoutConflict(old)


def _move_across_slots(client: redis.Redis, old: str, new: str) -> int:
    """DUMP + RESTORE + DEL on a cluster: 1 if moved (or a half-done move finished), 0 if the old key is gone."""
    payload = client.dump(old)
    if payload is None:
        return 0
    ttl = client.pttl(old)
    try:
        client.restore(new, max(int(ttl), 0), payload)
    except redis.ResponseError as error:
        if "busykey" not in str(error).lower():
            raise
        if client.dump(new) != payload:
            raise LayoutConflict(old) from None
    client.delete(old)
    return 1


# --- pseudonyms (schema PRIVACY) ---------------------------------------------------------------------


def upgrade_privacy(client: redis.Redis, page: int = 1000) -> int:
    """Bring a Redis of before pseudonyms to PRIVACY: every enrolled subject gets its pseudonym's lookup, the audit
    stream's subject ids become pseudonyms, and the gate's change feed (whose entries named subject ids) is emptied
    (followers rebuild once). How many audit entries were rewritten (0 on a new or upgraded Redis).

    Idempotent: a start that dies midway is followed by one that does it again. The stream is copied under a
    name in its own slot and swapped in with RENAME under WATCH, so entries appended meanwhile are never lost."""
    if int(client.get(PRIVACY_KEY) or 0) >= PRIVACY:
        return 0
    pseudonyms = Pseudonyms(client)
    after = "-"
    while True:
        ids = [s.decode() for s in client.zrangebylex(SUBJECTS, after, "+", start=0, num=page)]
        if ids:
            pipe = client.pipeline(transaction=False)
            for subject_id in ids:
                pseudonyms.remember(pipe, subject_id)
            pipe.execute()
        if len(ids) < page:
            break
        after = f"({ids[-1]}"
    rewritten = _pseudonymise_audit(client, pseudonyms, page)
    client.xtrim(CHANGES, maxlen=0, approximate=False)
    client.set(PRIVACY_KEY, PRIVACY)
    if rewritten:
        log.info("audit log: %d entries now name subjects by pseudonym", rewritten)
    return rewritten


def _pseudonymise_audit(client: redis.Redis, pseudonyms: Pseudonyms, page: int) -> int:
    """Copy the audit stream with pseudonyms for subject ids, then swap the copy in; entries rewritten."""
    copy = AUDIT + ":rewrite"  # `{fg:audit}…`: the stream's own slot, so RENAME may replace it on a cluster
    client.delete(copy)
    rewritten, last = 0, "-"

    def copy_from(reader, start: str) -> tuple[int, str]:
        done, position = 0, start
        while True:
            chunk = reader.xrange(AUDIT, min=position, max="+", count=page)
            if not chunk:
                return done, position
            pipe = client.pipeline(transaction=False)
            for entry_id, fields in chunk:
                subject = fields.get(b"subject", b"").decode()
                if subject and not is_pseudonym(subject):
                    fields = {**fields, b"subject": pseudonyms.of(subject)}
                    done += 1
                pipe.xadd(copy, fields, id=entry_id)
            pipe.execute()
            position = "(" + chunk[-1][0].decode()

    with client.pipeline(transaction=True) as pipe:
        while True:
            try:
                count, last = copy_from(client, last)
                rewritten += count
                pipe.watch(AUDIT)
                count, last = copy_from(pipe, last)  # what was appended meanwhile (watch mode runs at once)
                rewritten += count
                pipe.multi()
                if rewritten:
                    pipe.rename(copy, AUDIT)
                else:
                    pipe.delete(copy)  # nothing to rewrite: the stream stays as it is
                pipe.execute()
                return rewritten
            except redis.WatchError:
                continue  # appended to after the tail was copied: copy on from there
