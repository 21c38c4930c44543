"""The Milvus vector store: a collection kept in a Milvus server (through pymilvus), implementing index/store.py's
`VectorStore` as index/faiss_store.py does in process.

Each facegrid collection is one Milvus collection (int64 primary key `id`, float vector `vector`,
a FLAT index with the inner-product metric: exact search, scores equal to FAISS's `IndexFlatIP`
on the same vectors, the cosine on unit vectors). Every call uses the Strong consistency level:
Milvus then waits until every write acknowledged before the call is visible to it, so a delete or
an insert is seen by the next search (Bounded or Eventually could still show a deleted vector).

Names: facegrid names may hold ':' '/' and other characters Milvus refuses, so each maps to
`fg_<letters and digits>_<sha256 prefix>`, deterministically. That name is an *alias*; the data
lives in a generation collection `<alias>__g<time>` it points at, and the facegrid name is kept
in the collection's description and in its `facegrid.name` property. Calls go to the generation
itself, not through the alias: a standalone Milvus's proxies learn of an alias change some 200-350 ms
after it (measured on 2.3.5), and the search right after a rebuild must see the new contents.
`replace` (a rebuild) fills a new generation, then takes it and moves the alias in one step, so
searches see the old contents or the new, never half; the old generation is dropped 5 s later, and
another server on the same Milvus follows the alias when its next call finds it gone.

Faults: a Milvus that does not answer raises `EngineUnavailable` naming its URI (credentials
removed); the next call reconnects on a fresh channel, and a server that restarted with the collection
released gets it loaded again, so calls work again once it is back. A Milvus collection of another
dimension under the same name is refused at open (`EngineMismatch`), never dropped. Milvus is
derived data: Redis holds every acknowledged write and the owner rebuilds the collection from it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import threading
import time
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from .checks import check_ids, check_k, check_vectors, id_array
from .errors import EngineError, EngineLost, EngineMismatch, EngineUnavailable, VectorError
from .outages import EngineOutages
from .store import Hits

# pymilvus logs every failed RPC with its traceback, including the expected ones (an alias looked up before it
# exists); this module turns each into a typed error with a clean message instead, so its log stays quiet.
logging.getLogger("pymilvus.decorators").setLevel(logging.CRITICAL)

CONSISTENCY = "Strong"  # every acknowledged write is visible to the next call
METRIC = "IP"  # inner product, as FAISS's IndexFlatIP: the cosine on unit vectors
NAME_PROPERTY = "facegrid.name"
# A server back after an outage is found within a second or two, not after gRPC's default back-off of up to 2 minutes.
GRPC_OPTIONS = {"grpc.use_local_subchannel_pool": 1, "grpc.initial_reconnect_backoff_ms": 200,
                "grpc.max_reconnect_backoff_ms": 2000}
_ID, _VECTOR = "id", "vector"
_GENERATION = "__g"
_STALE_GENERATION_S = 3600.0  # unaliased generations older than this are a crashed rebuild's leftovers
_BATCH_BYTES = 4 << 20  # bytes of vectors per upsert request: well under gRPC's limits, seconds of work at most
_BULK_TIMEOUT_S = 120.0  # one upsert request (a busy milvus-lite took over 10 s for 16 MB)
_FLUSH_TIMEOUT_S = 600.0  # sealing a rebuilt collection: about 35 s per million 128-d rows with milvus-lite
_IDS_PER_FILTER = 1000  # ids per `id in [...]` expression
_DROP_GRACE_S = 5.0  # a replaced generation lives this long after the alias left it
_FLUSH_ROWS = 4096  # rows added before a flush: milvus-lite searches its unflushed rows ~20x slower than sealed ones
# Ids whose write did not reach Milvus, kept for the catch-up to re-read from Redis; past this many, the catch-up
# rebuilds the whole collection instead (a long outage under bulk load: a rebuild is cheaper than the id list).
UNSYNCED_MAX = 100_000
_NO_SCORE = -np.finfo(np.float32).max  # FAISS's padding score for inner product
_CURRENT = object()  # stands for the current generation's name in `_call` arguments, looked up at each attempt


def milvus_name(name: str) -> str:
    """The Milvus alias of a facegrid collection name: valid in Milvus, deterministic, distinct per name."""
    readable = re.sub(r"[^A-Za-z0-9]", "_", name)[:48]
    return f"fg_{readable}_{hashlib.sha256(name.encode()).hexdigest()[:16]}"


def split_credentials(uri: str) -> tuple[str, str]:
    """(uri without user:password@, the pymilvus token "user:password" or "")."""
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri, ""
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    token = f"{parts.username or ''}:{parts.password or ''}" if parts.password is not None else parts.username or ""
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)), token


def safe_uri(uri: str) -> str:
    """The URI as messages may show it: no user, password or query string (where a token may sit)."""
    bare, _ = split_credentials(uri)
    parts = urlsplit(bare)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def scrub(message: str, uri: str) -> str:
    """The message with the URI's password, token and query string blanked (should a library echo them)."""
    parts = urlsplit(uri)
    for secret in (split_credentials(uri)[1], parts.password, parts.query):
        if secret:
            message = message.replace(secret, "***")
    return message


def _causes(error: BaseException):
    """The error and what caused it (pymilvus raises `e from e`: the chain can loop)."""
    seen, visited = error, set()
    while seen is not None and id(seen) not in visited:
        visited.add(id(seen))
        yield seen
        seen = seen.__cause__ or seen.__context__


def _connection_lost(error: BaseException) -> bool:
    """The call found no server to talk to (refused, reset, closed channel): worth a fresh connection and a retry."""
    import grpc
    from pymilvus.exceptions import ConnectError, MilvusUnavailableException

    for seen in _causes(error):
        if isinstance(seen, (ConnectError, MilvusUnavailableException)):
            return True
        if isinstance(seen, grpc.RpcError) and seen.code() == grpc.StatusCode.UNAVAILABLE:
            return True
        if getattr(seen, "code", None) == 2 and "connect" in str(getattr(seen, "message", "")).lower():  # CONNECT_FAILED
            return True
        if isinstance(seen, ValueError) and "closed channel" in str(seen):  # another thread reconnected meanwhile
            return True
    return False


def _unreachable(error: BaseException) -> bool:
    """The server does not answer: no connection, or no reply within the call's time (rather than refusing the call)."""
    import grpc

    return _connection_lost(error) or any(
        isinstance(seen, grpc.RpcError) and seen.code() == grpc.StatusCode.DEADLINE_EXCEEDED for seen in _causes(error))


def _gone(error: BaseException) -> bool:
    """Milvus has no collection under the name called (a generation another server replaced and dropped)."""
    text = str(getattr(error, "message", error)).lower()
    return getattr(error, "code", None) == 100 or ("collection" in text and ("not exist" in text or "not found" in text))


def _not_loaded(error: BaseException) -> bool:
    """Milvus refused a read because the collection is not loaded (a server restarted releases it)."""
    text = str(getattr(error, "message", error)).lower()
    return getattr(error, "code", None) == 101 or "released" in text or "not loaded" in text


def probe(uri: str, timeout: float = 10.0) -> str:
    """The Milvus server's version, or EngineUnavailable naming the URI (credentials removed)."""
    from pymilvus import MilvusClient

    bare, token = split_credentials(uri)
    try:
        client = MilvusClient(uri=bare, token=token, timeout=timeout, dedicated=True, grpc_options=GRPC_OPTIONS)
        try:
            return client.get_server_version(timeout=timeout)
        finally:
            client.close()
    except Exception as error:  # noqa: BLE001 - whatever pymilvus raises, the caller gets one typed error
        message = scrub(str(getattr(error, "message", "") or error), uri)[:300]
        raise EngineUnavailable(f"Milvus at {safe_uri(uri)} does not answer: {message}") from None


class MilvusStore:  # implements index.store.VectorStore
    """Vectors of one dimension under int64 ids in a Milvus server, searched exactly by inner product."""

    on_gpu = False  # Milvus does the searching, wherever it runs

    def __init__(self, name: str, dim: int, uri: str, timeout: float = 10.0, outages: EngineOutages | None = None) -> None:
        if dim <= 0:
            raise VectorError(f"dimension must be positive, got {dim}")
        if not uri:
            raise EngineUnavailable("no Milvus URI given (FACEGRID_MILVUS_URI)")
        from pymilvus import MilvusClient

        self.name = name
        self.dim = dim
        self.uri = safe_uri(uri)
        self.timeout = timeout
        self.alias = milvus_name(name)
        self.outages = outages or EngineOutages()  # counts the calls that found Milvus unreachable (the catch-up watches)
        bare, token = split_credentials(uri)
        self._scrub = lambda message: scrub(message, uri)  # keeps the secret-bearing URI out of sight
        # Dedicated, on a subchannel of its own: pymilvus shares one channel per URI and gRPC one subchannel per
        # address otherwise, and a reconnect would get the one still in its back-off after the server went away.
        self._connect = lambda: MilvusClient(uri=bare, token=token, timeout=timeout, dedicated=True, grpc_options=GRPC_OPTIONS)
        self._lock = threading.RLock()  # one writer at a time: milvus-lite's engine is single-writer per collection
        self._unflushed = 0  # rows this object added since its last flush
        self._connect_lock = threading.Lock()  # one reconnect at a time
        self._unsynced: set[int] | None = set()  # ids whose last write failed for an outage; None: too many to list
        self._unsynced_lock = threading.Lock()
        self._client = self._new_client()
        self._target: str | None = None
        self._target = self._open()  # the generation this object reads and writes

    def _new_client(self):
        try:
            return self._connect()
        except Exception as error:  # noqa: BLE001 - every client failure becomes a typed error
            raise self._typed(error, "connect") from None

    # --- plumbing ----------------------------------------------------------------------------

    def _typed(self, error: BaseException, what: str) -> Exception:
        message = self._scrub(str(getattr(error, "message", "") or error))
        if _unreachable(error):
            self.outages.note()
            return EngineUnavailable(f"Milvus at {self.uri} does not answer ({what} on collection {self.name!r}): "
                                     f"{message[:300]}")
        return EngineError(f"Milvus at {self.uri} failed {what} on collection {self.name!r}: {message[:300]}")

    def _call(self, what: str, method: str, *args, timeout: float | None = None, **kwargs):
        """One pymilvus call with our timeout, retried once: on a fresh connection where the server did not answer
        (pymilvus's own channel stays in its reconnect back-off for a while after a server comes back), and after
        loading a collection a restarted server released."""
        for attempt in (0, 1):
            client = self._client
            try:
                named = [self._target if a is _CURRENT else a for a in args]
                return getattr(client, method)(*named, timeout=timeout or self.timeout, **kwargs)
            except Exception as error:  # noqa: BLE001 - pymilvus raises MilvusException and grpc errors
                if attempt == 0 and any(a is _CURRENT for a in args) and _gone(error):  # another server rebuilt it: follow the alias
                    self._follow_alias()
                    continue
                if attempt == 0 and _connection_lost(error):  # not after a time-out: the call may have been applied
                    self._reconnect(client)
                    continue
                if attempt == 0 and _not_loaded(error):
                    self._load()
                    continue
                raise self._typed(error, what) from None

    def _reconnect(self, failed) -> None:
        """A new client in place of `failed`, whose server did not answer (unless another thread replaced it already)."""
        with self._connect_lock:
            if self._client is not failed:
                return
            self._client = self._new_client()
        try:
            failed.close()  # a call still on it fails as unreachable and is retried on the new one
        except Exception:  # noqa: BLE001 - a broken client may fail to close; it is dropped either way
            pass

    def _load(self) -> None:
        try:
            self._client.load_collection(self._target or self.alias, timeout=self.timeout)
        except Exception as error:  # noqa: BLE001
            raise self._typed(error, "load") from None

    def _open(self) -> str:
        """The generation the alias points at (made, with the alias, where none exists); checked and loaded."""
        if self.alias in self._call("open", "list_aliases")["aliases"]:  # asking first: a miss logs no RPC error
            target = self._call("open", "describe_alias", self.alias)["collection_name"]
        else:
            if self._call("open", "has_collection", self.alias):
                raise EngineMismatch(f"Milvus at {self.uri} has a collection {self.alias!r} that facegrid did not make "
                                     f"(for {self.name!r}): refused, not dropped; remove or rename it")
            target = self._create()
            self._call("open", "create_alias", target, self.alias)
        self._check(target)
        self._drop_stale(target)
        self._call("open", "load_collection", target)
        return target

    def _check(self, target: str) -> None:
        """Refuse a Milvus collection of another dimension or another facegrid name."""
        described = self._call("open", "describe_collection", target)
        dims = [int(f.get("params", {}).get("dim", 0)) for f in described.get("fields", []) if f.get("name") == _VECTOR]
        held = (described.get("properties") or {}).get(NAME_PROPERTY, self.name)
        if dims != [self.dim] or held != self.name:
            found = f"{dims[0]}-dimensional vectors" if len(dims) == 1 else "no facegrid vector field"
            raise EngineMismatch(f"Milvus at {self.uri} holds collection {target!r} for {held!r} with {found}, but facegrid's "
                                 f"collection {self.name!r} has {self.dim}: refused at start, nothing dropped (drop it in "
                                 f"Milvus yourself to have it rebuilt from Redis)")

    def _create(self) -> str:
        """A new, empty generation collection; its name."""
        from pymilvus import DataType, MilvusClient

        target = f"{self.alias}{_GENERATION}{time.time_ns():x}"
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False, description=f"facegrid: {self.name}")
        schema.add_field(_ID, DataType.INT64, is_primary=True)
        schema.add_field(_VECTOR, DataType.FLOAT_VECTOR, dim=self.dim)
        index = self._client.prepare_index_params()
        index.add_index(field_name=_VECTOR, index_type="FLAT", metric_type=METRIC)
        self._call("create", "create_collection", target, schema=schema, index_params=index, consistency_level=CONSISTENCY,
                   description=f"facegrid: {self.name}", properties={NAME_PROPERTY: self.name})
        return target

    def _drop_stale(self, target: str) -> None:
        """Drop this collection's unaliased generations left by a rebuild that crashed (an hour old or more)."""
        prefix = self.alias + _GENERATION
        for other in self._call("open", "list_collections"):
            if other.startswith(prefix) and other != target:
                try:
                    born = int(other[len(prefix):], 16) / 1e9
                except ValueError:
                    continue
                if time.time() - born > _STALE_GENERATION_S:  # a younger one may be another server's rebuild in progress
                    self._call("open", "drop_collection", other)

    def _write(self, target: str, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Upsert in requests of a few MB: idempotent, so a request retried after a lost connection is harmless."""
        rows = max(1, _BATCH_BYTES // (4 * self.dim + 16))
        for start in range(0, len(ids), rows):
            chunk = [{_ID: int(i), _VECTOR: v} for i, v in zip(ids[start:start + rows], vectors[start:start + rows])]
            self._call("upsert", "upsert", target, chunk, timeout=max(self.timeout, _BULK_TIMEOUT_S))

    def _present(self, ids: np.ndarray) -> list[int]:
        """Which of ids are stored."""
        found: list[int] = []
        unique = np.unique(ids)
        for start in range(0, len(unique), _IDS_PER_FILTER):
            chunk = ", ".join(str(int(i)) for i in unique[start:start + _IDS_PER_FILTER])
            rows = self._call("query", "query", _CURRENT, filter=f"{_ID} in [{chunk}]", output_fields=[_ID],
                              consistency_level=CONSISTENCY)
            found.extend(int(r[_ID]) for r in rows)
        return found

    @staticmethod
    def _last_of_each(ids: np.ndarray, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One row per id (the last given): Milvus keeps one row per primary key."""
        if len(np.unique(ids)) == len(ids):
            return ids, vectors
        _, last = np.unique(ids[::-1], return_index=True)
        keep = np.sort(len(ids) - 1 - last)
        return ids[keep], vectors[keep]

    # --- the collection interface --------------------------------------------------------------

    def _follow_alias(self) -> None:
        """Take the generation the alias points at now (another index server on this Milvus rebuilt the collection);
        EngineLost where there is none: Milvus lost it, and the catch-up refills it (an outage is noted for it)."""
        if self.alias not in self._call("follow", "list_aliases")["aliases"]:
            self.outages.note()
            raise EngineLost(f"Milvus at {self.uri} no longer holds collection {self.name!r} (did it lose its data?); "
                             f"it is refilled from Redis shortly")
        target = self._call("follow", "describe_alias", self.alias)["collection_name"]
        if target != self._target:
            self._check(target)
            self._call("follow", "load_collection", target)
            self._target = target

    def _drop_quietly(self, collection: str) -> None:
        """Drop a replaced generation; if Milvus is away, a later start drops it as stale."""
        try:
            self._client.drop_collection(collection, timeout=self.timeout)
        except Exception:  # noqa: BLE001 - best effort: nothing depends on it any more
            pass

    def describe(self) -> str:
        """How it searches, in a line (the Stats RPC shows it to callers: no address)."""
        return f"Milvus FLAT {METRIC} ({CONSISTENCY})"


    def add(self, ids, vectors: np.ndarray) -> None:
        """Add vectors under ids; an id already present is replaced (an upsert)."""
        vectors = check_vectors(vectors, self.dim)
        ids = check_ids(ids, len(vectors))
        ids, vectors = self._last_of_each(ids, vectors)
        with self._lock, self._noting_outages(ids):
            self._write(_CURRENT, ids, vectors)
            self._unflushed += len(ids)
            if self._unflushed >= _FLUSH_ROWS:  # seal what bulk adds wrote; single enrollments stay cheap
                self._call("flush", "flush", _CURRENT, timeout=max(self.timeout, _FLUSH_TIMEOUT_S))
                self._unflushed = 0

    def compact(self) -> None:
        """Ask Milvus to compact the collection: a delete only marks rows until compaction rewrites the segments
        that held them (Milvus runs it in the background; this does not wait)."""
        with self._lock:
            self._call("compact", "compact", _CURRENT)

    def remove(self, ids) -> int:
        """Remove ids (absent ones are ignored); how many were removed."""
        ids = id_array(ids)
        if not len(ids):
            return 0
        with self._lock, self._noting_outages(ids):
            present = self._present(ids)  # Milvus counts the ids asked for, not those it held
            for start in range(0, len(present), _IDS_PER_FILTER):
                self._call("delete", "delete", _CURRENT, ids=present[start:start + _IDS_PER_FILTER])
            return len(present)

    @contextlib.contextmanager
    def _noting_outages(self, ids: np.ndarray):
        """Around a write of `ids`: they are unsynced if it fails for an outage, and synced again if it succeeds
        (the write carried what Redis holds now)."""
        try:
            yield
        except EngineUnavailable:
            self.mark_unsynced({int(i) for i in ids})
            raise
        with self._unsynced_lock:
            if self._unsynced:
                self._unsynced.difference_update(int(i) for i in ids)

    def take_unsynced(self) -> set[int] | None:
        """The ids whose last write failed for an outage, forgotten here (None: too many were, rebuild it all).
        The caller re-reads them from Redis, and gives them back with `mark_unsynced` if it cannot finish."""
        with self._unsynced_lock:
            taken, self._unsynced = self._unsynced, set()
            return taken

    def mark_unsynced(self, ids: set[int] | None) -> None:
        """Ids Milvus may hold wrongly (None: any of them)."""
        with self._unsynced_lock:
            if self._unsynced is not None:
                self._unsynced = None if ids is None else self._unsynced | ids
                if self._unsynced is not None and len(self._unsynced) > UNSYNCED_MAX:
                    self._unsynced = None

    def search(self, queries: np.ndarray, k: int) -> Hits:
        """The k best-scoring vectors for each query, exactly; ids -1 (score -FLT_MAX) past the stored count."""
        queries = check_vectors(queries, self.dim)
        k = check_k(k)
        found = self._call("search", "search", _CURRENT, data=queries, limit=k, output_fields=[_ID],
                           search_params={"metric_type": METRIC}, consistency_level=CONSISTENCY)
        width = max([1, *(len(row) for row in found)])  # as FaissStore: min(k, max(count, 1)) columns
        scores = np.full((len(queries), width), _NO_SCORE, dtype=np.float32)
        ids = np.full((len(queries), width), -1, dtype=np.int64)
        for q, row in enumerate(found):
            for j, hit in enumerate(row):
                ids[q, j] = int(hit["id"])
                scores[q, j] = float(hit["distance"])
        return Hits(scores=scores, ids=ids)

    def count(self) -> int:
        """How many vectors are stored."""
        rows = self._call("count", "query", _CURRENT, filter="", output_fields=["count(*)"], consistency_level=CONSISTENCY)
        return int(rows[0]["count(*)"]) if rows else 0

    def _scan(self, fields: list[str], retry: bool = True) -> list[dict]:
        """Every row, in pages (a query iterator); retried once as `_call` does."""
        client = self._client
        try:
            iterator = client.query_iterator(self._target, batch_size=4096, output_fields=fields, timeout=self.timeout,
                                                   consistency_level=CONSISTENCY)
            rows: list[dict] = []
            try:
                while page := iterator.next():
                    rows.extend(page)
            finally:
                iterator.close()
            return rows
        except Exception as error:  # noqa: BLE001
            if retry and _connection_lost(error):
                self._reconnect(client)
                return self._scan(fields, retry=False)
            if retry and _not_loaded(error):
                self._load()
                return self._scan(fields, retry=False)
            raise self._typed(error, "scan") from None

    def ids(self) -> np.ndarray:
        """All stored ids."""
        return np.array([int(r[_ID]) for r in self._scan([_ID])], dtype=np.int64)

    def items(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of everything stored, as copies."""
        rows = self._scan([_VECTOR])
        ids = np.array([int(r[_ID]) for r in rows], dtype=np.int64)
        vectors = np.array([r[_VECTOR] for r in rows], dtype=np.float32).reshape(len(rows), self.dim)
        return ids, vectors

    def vector(self, id_: int) -> np.ndarray | None:
        """The stored vector under an id, or None."""
        rows = self._call("get", "get", _CURRENT, ids=[int(id_)], output_fields=[_VECTOR], consistency_level=CONSISTENCY)
        return np.asarray(rows[0][_VECTOR], dtype=np.float32) if rows else None

    def __contains__(self, id_: int) -> bool:
        """Whether a vector is stored under the id."""
        return bool(self._present(np.array([id_], dtype=np.int64)))

    def clear(self) -> None:
        """Remove everything (an empty generation takes the alias)."""
        self.replace(np.zeros(0, np.int64), np.zeros((0, self.dim), np.float32))

    def replace(self, ids, vectors: np.ndarray) -> None:
        """Replace everything at once (a rebuild): a new generation is filled, then the alias moves to it in one
        step, so a search sees the old contents or the new, never half."""
        vectors = check_vectors(vectors, self.dim)
        ids = check_ids(ids, len(vectors))
        ids, vectors = self._last_of_each(ids, vectors)
        with self._lock:
            fresh = self._create()
            try:
                self._write(fresh, ids, vectors)
                # Sealed segments: milvus-lite searches unflushed rows far more slowly.
                self._call("replace", "flush", fresh, timeout=max(self.timeout, _FLUSH_TIMEOUT_S))
                self._call("replace", "load_collection", fresh, timeout=max(self.timeout, _FLUSH_TIMEOUT_S))
                # What the alias points at now: another server on this Milvus may have rebuilt it meanwhile. None where
                # Milvus lost it (it came back without its data): the refill makes it again.
                if self.alias in self._call("replace", "list_aliases")["aliases"]:
                    current = self._call("replace", "describe_alias", self.alias)["collection_name"]
                    self._call("replace", "alter_alias", fresh, self.alias)
                else:
                    current = fresh
                    self._call("replace", "create_alias", fresh, self.alias)
            except Exception:
                try:
                    self._client.drop_collection(fresh, timeout=self.timeout)
                except Exception:  # noqa: BLE001 - the error that stopped the rebuild is the one to report
                    pass
                raise
            self._target, self._unflushed = fresh, 0
            if current != fresh:
                # Not at once: another server's call in flight on it (or one routed by a proxy's cached alias) would find
                # nothing (seen with Milvus 2.3.5). Meanwhile the old one answers as before.
                dropper = threading.Timer(_DROP_GRACE_S, self._drop_quietly, args=(current,))
                dropper.daemon = True  # never holds up an exit: a later start drops what it left
                dropper.start()
