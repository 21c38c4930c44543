"""The Redis Cluster client: redis+cluster:// URLs, durability across failover, transactions while slots move.

A Redis Cluster is named by `redis+cluster://[user:password@]host:port[,host:port…][?replicas=N&wait_ms=M]`
(`rediss+cluster://` for TLS): any of its nodes; the client (redis-py's RedisCluster) learns
the rest and follows MOVED and ASK redirections while slots move (resharding). Every
transaction touches one slot (schema.py says how the keys are tagged).

Durability on a cluster: a master answers a write once it is in its own AOF, but replicates
it to its replicas afterwards, so a master that dies at that moment takes it with it when its
replica is promoted. So each MULTI/EXEC is followed by WAIT for `replicas` replicas (default 1)
up to `wait_ms` (default 1000) on the master that ran it, and a write not yet on a replica by
then is an error (ReplicaLag, UNAVAILABLE to the caller, who retries: every write of ours is
idempotent). A master with fewer replicas connected (its replica was promoted and the old master
is not back yet) waits for those it has: writes go on, unreplicated until a replica is back.
`replicas=0` turns the waiting off.
"""

from __future__ import annotations

import logging
import re
import time
from contextlib import contextmanager
from urllib.parse import parse_qs, unquote

import redis
from redis.backoff import ExponentialBackoff
from redis.cluster import ClusterNode, ClusterPipeline, TransactionStrategy
from redis.exceptions import (AskError, CrossSlotTransactionError, InvalidPipelineStack, MovedError, RedisClusterException,
                              TryAgainError)
from redis.retry import Retry

log = logging.getLogger("facegrid.server")

CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")


class ReplicaLag(redis.RedisError):
    """A write is on its master but not yet on the replicas asked for: it could be lost in a failover."""


def is_cluster(client) -> bool:
    """Whether a client (from connection.connect) talks to a Redis Cluster."""
    return isinstance(client, (redis.RedisCluster, LazyCluster))


def is_cluster_url(url: str) -> bool:
    """Whether the URL names a Redis Cluster (redis+cluster:// or rediss+cluster://)."""
    return url.split("://", 1)[0].lower() in CLUSTER_SCHEMES


def redact_cluster_url(url: str) -> str:
    """A redis+cluster:// URL with any password replaced by ***."""
    scheme, rest = url.split("://", 1)
    credentials, at, hosts = rest.rpartition("@")
    if not at or ":" not in credentials:
        return url
    return f"{scheme}://{credentials.split(':', 1)[0]}:***@{hosts}"


def _cluster_options(url: str) -> dict:
    """RedisCluster's arguments from a redis+cluster:// URL (several host:port, comma-separated)."""
    scheme, rest = url.split("://", 1)
    rest, _, query = rest.partition("?")
    credentials, at, hosts = rest.rpartition("@")
    nodes = []
    for host in hosts.rstrip("/").split(","):
        name, colon, port = host.strip().rpartition(":")
        if not colon or not port.isdigit():
            raise ValueError(f"a Redis Cluster URL lists host:port pairs, got {host!r} in {redact_cluster_url(url)}")
        nodes.append(ClusterNode(name.strip("[]"), int(port)))
    options = {"startup_nodes": nodes, "ssl": scheme.lower() == "rediss+cluster"}
    if at:
        user, colon, password = credentials.partition(":")
        options.update(username=unquote(user) or None, password=unquote(password) if colon else None)
    params = {k: v[-1] for k, v in parse_qs(query).items()}
    options["replicas"] = int(params.get("replicas", 1))
    options["wait_ms"] = int(params.get("wait_ms", 1000))
    return options


@contextmanager
def _unreachable_as_connection_error():
    """redis-py says "no node reachable" or "slot not served" with RedisClusterException, which is no RedisError:
    turned into redis.ConnectionError, so that every caller sees what it sees of one Redis that is down (and the
    gRPC status is UNAVAILABLE). A transaction across slots stays what it is: a bug to see."""
    try:
        yield
    except (CrossSlotTransactionError, InvalidPipelineStack):
        raise
    except RedisClusterException as error:
        raise redis.ConnectionError(f"Redis Cluster: {error}") from None


class DurableCluster(redis.RedisCluster):
    """A RedisCluster whose transactions return only once their master's replicas have them (the module's docstring)."""

    def __init__(self, *, replicas: int = 1, wait_ms: int = 1000, **options) -> None:
        super().__init__(**options)
        self.replicas = replicas
        self.wait_ms = wait_ms
        self._connected: dict[tuple[str, int], tuple[int, float]] = {}  # master -> (replicas connected, when seen)

    def execute_command(self, *args, **kwargs):
        """Run a command, an unreachable node raised as a connection error (UNAVAILABLE to the caller)."""
        with _unreachable_as_connection_error():
            return super().execute_command(*args, **kwargs)

    def pipeline(self, transaction=None, shard_hint=None):
        """redis-py's cluster pipeline, made a DurablePipeline (the same object: only execute() differs)."""
        pipe = super().pipeline(transaction, shard_hint)
        pipe.__class__ = DurablePipeline
        pipe.owner = self
        # Read the topology again after every connection error of a transaction: redis-py's default (every 5th
        # error of one pipeline) never comes for a pipeline that lives 4 tries, and after a failover every
        # transaction of the dead master's slots would go on knocking on its door.
        pipe.reinitialize_steps = 1
        return pipe

    def wait_for_replicas(self, connection) -> None:
        """WAIT on the connection that ran a transaction (WAIT counts the writes of its own connection) for
        `replicas` replicas, or as many as its master has connected now (seen at most once a second).

        A master left without replicas (its old master died and is not back) goes on alone rather than
        refusing every write: the trade-off of availability over a second failure meanwhile, logged."""
        if self.replicas <= 0:
            return
        where = (connection.host, connection.port)
        now = time.monotonic()
        seen = self._connected.get(where)
        if seen is None or now - seen[1] > 1.0:
            connection.send_command("INFO", "replication")
            found = re.search(rb"connected_slaves:(\d+)", connection.read_response())
            count = int(found.group(1)) if found else 0
            if count < self.replicas and (seen is None or seen[0] >= self.replicas):
                log.warning("Redis master %s:%s has %d of %d replicas connected: its writes are not replicated "
                            "until they are back", *where, count, self.replicas)
            seen = self._connected[where] = (count, now)
        wanted = min(self.replicas, seen[0])
        if wanted <= 0:
            return
        connection.send_command("WAIT", wanted, self.wait_ms)
        acked = int(connection.read_response())
        if acked < wanted:
            raise ReplicaLag(f"a write on {where[0]}:{where[1]} reached {acked} of {wanted} replicas within {self.wait_ms} ms")


class DurablePipeline(ClusterPipeline):
    """A ClusterPipeline whose MULTI/EXEC is followed by DurableCluster.wait_for_replicas on the connection that
    ran it, and that rides out slots moving (resharding) under a transaction:

    - a WATCHed transaction whose reads meet ASK or MOVED (its slot moving) raises WatchError, as redis-py does
      for a redirection at EXEC: the store's optimistic loop reads again, once the slot has settled;
    - an unwatched MULTI/EXEC refused with ASK, MOVED or TRYAGAIN was aborted whole by Redis (nothing of it
      applied), so it is sent again, a few times, on the topology read anew."""

    owner: DurableCluster
    _REDIRECTS = (AskError, MovedError, TryAgainError)

    def execute_command(self, *args, **kwargs):
        """Queue or run a command, a slot moving under a watch raised as WatchError (read again)."""
        with self._redirect_as_watch_error():
            return super().execute_command(*args, **kwargs)

    def watch(self, *names):
        """WATCH keys, a slot moving meanwhile raised as WatchError (read again)."""
        with self._redirect_as_watch_error():
            return super().watch(*names)

    @contextmanager
    def _redirect_as_watch_error(self):
        try:
            yield
        except self._REDIRECTS as error:
            self.reset()
            time.sleep(_SETTLE_S)
            self.owner.nodes_manager.initialize()
            raise redis.WatchError(f"the slot moved while watched ({type(error).__name__}): read again") from None

    def execute(self, raise_on_error: bool = True):
        """Run the queued commands, wait for the replicas, and resend an unwatched transaction whose slot moved."""
        queued = [(c.args, c.options) for c in getattr(self._execution_strategy, "_command_queue", [])]
        watched = bool(getattr(self._execution_strategy, "_watching", False))
        try:
            for attempt in range(_REDIRECT_TRIES):
                try:
                    with _unreachable_as_connection_error():
                        result = self._execution_strategy.execute(raise_on_error)
                        connection = getattr(self._execution_strategy, "_transaction_connection", None)
                        if connection is not None:
                            self.owner.wait_for_replicas(connection)
                    return result
                except self._REDIRECTS:
                    if not isinstance(self._execution_strategy, TransactionStrategy) or attempt == _REDIRECT_TRIES - 1:
                        raise
                    if watched:
                        raise redis.WatchError("the slot moved under the transaction: read again") from None
                    self.reset()
                    time.sleep(_SETTLE_S)
                    self.owner.nodes_manager.initialize()
                    for args, options in queued:  # the same transaction again
                        self.pipeline_execute_command(*args, **options)
        finally:
            self.reset()


_SETTLE_S = 0.05  # the pause before a transaction is tried again while its slot moves
_REDIRECT_TRIES = 20


class LazyCluster:
    """A DurableCluster made on first use, so that a server may start before its cluster answers.

    Attribute reads are handed to the cluster client; making it contacts the nodes of the URL,
    and a failure to is a redis.ConnectionError, as for one Redis."""

    def __init__(self, url: str, timeout: float) -> None:
        self._options = dict(_cluster_options(url), socket_timeout=timeout, socket_connect_timeout=min(timeout, 2.0),
                             # Retries find the promoted replica after a failover (the topology is read again
                             # after each connection error); redirections (MOVED, ASK) are followed anyway.
                             retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 3))
        self._where = redact_cluster_url(url)
        self._client: DurableCluster | None = None

    @property
    def client(self) -> DurableCluster:
        """The cluster client (made now if not yet)."""
        if self._client is None:
            try:
                self._client = DurableCluster(**self._options)
            except redis.RedisClusterException as error:
                raise redis.ConnectionError(f"Redis Cluster at {self._where}: {error}") from None
        return self._client

    def __getattr__(self, name: str):
        return getattr(self.client, name)
