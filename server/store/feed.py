"""The change feed: one Redis Stream entry per change, written in the change's own transaction.

Several servers share one Redis and each keeps derived copies (FAISS collections, cached
group means, caches of keys) that must follow the others' writes. A writer adds
`feed.publish(pipe, kind, **fields)` to the MULTI/EXEC of its change, so no change is
acknowledged without its entry. Each server runs one follower thread that reads the
stream from the last entry it applied (XREAD BLOCK) and hands every entry of another
server to the handlers subscribed to its kind (a server applies its own changes as it
makes them). Handlers re-read the current state from Redis instead of replaying deltas,
so an entry applied twice, or late, does no harm.

Streams: the gate's, keys' and collection registry's changes go to one stream ({fg}:changes),
each photo collection's to a stream of its own ({fg:c:<c>}:changes), since on a Redis
Cluster the entry must live in the slot of the keys its transaction writes (schema.py).
The follower follows them all: the ones of the collections listed at `mark()`, and each
new collection's from its start once the COLLECTION_CREATED entry names it. On one Redis
one XREAD BLOCK waits on every stream; on a cluster (where one XREAD may not span slots)
each stream is read without blocking, in one pipelined round trip per `poll_s`.
Entries of one stream come in order; across streams there is no order, and none is
needed (handlers re-read the state).

Gaps: each stream is trimmed to about MAXLEN entries. A follower that finds the entry it
applied last gone from a stream (trimmed while it lagged, or Redis lost its data)
cannot know what it missed: it calls the resync handlers, which rebuild from Redis.

Usage (an auth helper revoking keys, say):

    feed.publish(pipe, KEY_REVOKED, key_hash=digest)             # inside the revoking MULTI
    feed.subscribe(KEY_REVOKED, lambda change: keyring.forget_cached(change.fields["key_hash"]))
    feed.on_resync(cache.clear)                                    # after a gap: whatever must be rebuilt

Subscribe before `start()`.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass, field
from typing import Callable

import redis

from .connection import is_cluster
from .schema import CHANGES, COLLECTIONS, collection_changes_key

log = logging.getLogger("facegrid.server")

MAXLEN = 100_000  # entries kept (approximately); a follower further behind rebuilds

# Kinds written by the stores (others may publish their own: any short name).
SERVER_STARTED = "server_started"  # origin: marks where a starting follower begins
# Subjects are named by number, never by id (subjects.py says why); older servers also wrote `subject`.
SUBJECT_CHANGED = "subject_changed"  # number: templates added (or display name)
SUBJECT_FORGOTTEN = "subject_forgotten"  # number
SUBJECT_UPDATED = "subject_updated"  # number: its groups, status or expiry (no server caches them: Pass reads them)
DOOR_CHANGED = "door_changed"  # door: set or deleted (no server caches doors: Pass reads them)
SUBJECTS_IMPORTED = "subjects_imported"  # count: a bulk import; followers rebuild the gate
COLLECTION_CREATED = "collection_created"  # collection, model, dim
COLLECTION_CHANGED = "collection_changed"  # collection: its settings changed (an image model added)
FACES_ADDED = "faces_added"  # collection, ids: photos indexed
PHOTO_VECTORS_ADDED = "photo_vectors_added"  # collection, ids: whole-photo vectors (photo ids) stored
VECTORS_ADDED = "vectors_added"  # collection, ids
VECTORS_REMOVED = "vectors_removed"  # collection, ids
GROUPING_CHANGED = "grouping_changed"  # collection: a clustering, correction or undo
KEY_REVOKED = "key_revoked"  # key_hash: an API key revoked; followers drop it from their caches


@dataclass(frozen=True)
class Change:
    """One feed entry: its stream id, kind, the server that wrote it, and the kind's fields."""

    id: str
    kind: str
    origin: str
    fields: dict[str, str] = field(default_factory=dict)

    def ids(self, name: str = "ids") -> list[int]:
        """A field holding a list of integer ids."""
        value = self.fields.get(name, "")
        return [int(i) for i in value.split(",") if i]


Handler = Callable[[Change], None]
_NOWHERE = "0-1"  # an id no entry has: following from it always finds a gap
_START = "0-0"  # a stream followed from its beginning (new, or empty when marked): no gap to look for


def _text(value) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(str(int(v)) for v in value)
    return str(value)


class ChangeFeed:
    """Publishes changes into transactions and follows other servers' changes in a thread."""

    def __init__(self, client: redis.Redis, origin: str | None = None, maxlen: int = MAXLEN, block_ms: int = 1000,
                 poll_s: float = 0.05) -> None:
        self.redis = client
        self.origin = origin or uuid.uuid4().hex[:12]
        self.maxlen = maxlen
        self.block_ms = block_ms
        self.poll_s = poll_s  # on a cluster: the pause between reads that found nothing
        self._cluster = is_cluster(client)
        self._handlers: dict[str, list[tuple[Handler, bool]]] = {}
        self._resync: list[Callable[[], None]] = []
        self._last: str | None = None  # id of the last entry applied from the main stream
        self._positions: dict[str, str] = {}  # each collection stream followed -> id of its last entry applied
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # --- writing -------------------------------------------------------------------------------

    def publish(self, pipe, kind: str, stream: str = CHANGES, **fields) -> None:
        """Queue an entry on `pipe` (a MULTI/EXEC pipeline): it is written if and only if the change is.

        `stream`: the stream in the slot of the transaction's keys (a collection's: `collection_stream`)."""
        entry = {"kind": kind, "origin": self.origin}
        entry.update({name: _text(value) for name, value in fields.items()})
        pipe.xadd(stream, entry, maxlen=self.maxlen, approximate=True)

    @staticmethod
    def collection_stream(collection: str) -> str:
        """The stream of a collection's own changes (in its slot)."""
        return collection_changes_key(collection)

    # --- following -----------------------------------------------------------------------------

    def subscribe(self, kind: str, handler: Handler, own: bool = False) -> None:
        """Call `handler(change)` in the follower thread for each entry of `kind` from another server
        (and from this one too with `own`). It must be idempotent: entries may come twice."""
        self._handlers.setdefault(kind, []).append((handler, own))

    def on_resync(self, handler: Callable[[], None]) -> None:
        """Call `handler()` after a gap in the feed: whatever it derives from Redis must be rebuilt."""
        self._resync.append(handler)

    def mark(self) -> str:
        """Write a start marker and follow from it; call before the first rebuild, so that nothing
        written during the rebuild is missed (it is applied again afterwards, harmlessly)."""
        pipe = self.redis.pipeline(transaction=True)
        self.publish(pipe, SERVER_STARTED)
        (marker,) = pipe.execute()
        self._last = marker.decode()
        # Each collection's stream from its last entry now (what comes after is new to the rebuild's reader).
        streams = [collection_changes_key(n.decode()) for n in self.redis.hkeys(COLLECTIONS)]
        pipe = self.redis.pipeline(transaction=False)
        for stream in streams:
            pipe.xrevrange(stream, count=1)
        self._positions = {s: (last[0][0].decode() if last else _START) for s, last in zip(streams, pipe.execute() if streams else [])}
        return self._last

    def start(self) -> None:
        """Start the follower thread (after `mark` and the rebuild)."""
        if self._last is None:
            self.mark()
        self._thread = threading.Thread(target=self._run, name="change-feed", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop following the feed and wait for the follower thread to end."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=self.block_ms / 1000 + 5)

    @property
    def position(self) -> str | None:
        """The id of the last entry applied."""
        return self._last

    def _run(self) -> None:
        down = False
        while not self._stopping.is_set():
            try:
                self._poll()
                if down:
                    log.info("change feed: Redis answers again; following from %s", self._last)
                down = False
            except redis.RedisError as error:
                if not down:
                    log.warning("change feed: Redis unavailable (%s); following again when it is back", type(error).__name__)
                down = True
                self._stopping.wait(0.5)
            except Exception:  # noqa: BLE001 - the follower must outlive any one bad entry
                log.exception("change feed: follower failed; retrying")
                self._stopping.wait(0.5)

    def _poll(self) -> None:
        """Read what came after the last entries applied (waiting up to block_ms) and apply it; rebuild
        instead where such an entry is gone, since what followed it may be gone too."""
        before = {CHANGES: self._last, **self._positions}
        replies = self._read(before)
        if self._gap(before):
            self._rebuild()
            return
        for stream, entries in replies:
            for entry_id, raw in entries:
                fields = {k.decode(): v.decode() for k, v in raw.items()}
                change = Change(entry_id.decode(), fields.pop("kind", ""), fields.pop("origin", ""), fields)
                if change.kind == COLLECTION_CREATED:  # follow the new collection's own stream from its start
                    self._positions.setdefault(collection_changes_key(change.fields.get("collection", "")), _START)
                self._apply(change)
                if stream == CHANGES:
                    self._last = change.id
                else:
                    self._positions[stream] = change.id

    def _read(self, positions: dict[str, str]) -> list[tuple[str, list]]:
        """(stream, entries) of every stream with entries after its position."""
        if not self._cluster:
            reply = self.redis.xread(positions, count=1000, block=self.block_ms)
            return [(name.decode(), entries) for name, entries in reply or []]
        pipe = self.redis.pipeline(transaction=False)  # one XREAD per stream: each lives in its own slot
        for stream, last in positions.items():
            pipe.xread({stream: last}, count=1000)
        found = [(stream, reply[0][1]) for stream, reply in zip(positions, pipe.execute()) if reply]
        if not found:
            self._stopping.wait(self.poll_s)
        return found

    def _apply(self, change: Change) -> None:
        for handler, own in self._handlers.get(change.kind, ()):
            if change.origin == self.origin and not own:
                continue
            try:
                handler(change)
            except redis.RedisError:
                raise  # not applied: it is read again once Redis answers
            except Exception:  # noqa: BLE001 - one entry that cannot be applied must not stop the rest
                log.exception("change feed: cannot apply %s %s", change.kind, change.id)

    def _gap(self, positions: dict[str, str]) -> bool:
        """Whether entries after a position may be lost: that entry is no longer in its stream (trimming goes
        oldest first), in one pipelined round trip."""
        looked = [(stream, last) for stream, last in positions.items() if last != _START]
        pipe = self.redis.pipeline(transaction=False)
        for stream, last in looked:
            pipe.xrange(stream, min=last, max=last, count=1)
        return not all(pipe.execute())

    def _rebuild(self) -> None:
        log.warning("change feed: entries after %s are gone (trimmed, or Redis lost its data): rebuilding from Redis", self._last)
        marker = self.mark()
        self._last = _NOWHERE  # a rebuild cut short by a Redis error is done again, not skipped
        for handler in self._resync:
            handler()
        self._last = marker
        log.info("change feed: rebuilt; following from %s", marker)

