"""Connecting to Redis or a Redis Cluster: URLs without their passwords in logs, timeouts, waiting at start-up.

A server may start before its Redis does, or while Redis is still loading a large AOF
into memory. Start-up waits as long as Redis says it is loading (with its progress in
the log) and otherwise up to a start timeout for Redis to answer at all.

A Redis Cluster (redis+cluster://…) is reached through cluster.py.
"""

from __future__ import annotations

import logging
import time
from typing import Callable
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .cluster import LazyCluster, ReplicaLag, is_cluster, is_cluster_url, redact_cluster_url  # noqa: F401 - ReplicaLag re-exported

log = logging.getLogger("facegrid.server")

_LOG_EVERY = 5.0  # seconds between progress lines while waiting


class RedisUnavailable(RuntimeError):
    """Redis did not answer within the start timeout (the message names it without a password)."""


def redact(url: str) -> str:
    """The URL with any password replaced by ***, safe for logs and error messages."""
    if is_cluster_url(url):
        return redact_cluster_url(url)
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, f"{user}:***@{host}", parts.path, parts.query, parts.fragment))


def connect(url: str, timeout: float = 10.0) -> redis.Redis:
    """A client for redis://host:port/db, unix:///path or redis+cluster://host:port,…; calls give up after
    `timeout` s instead of hanging.

    No retries inside a one-Redis client: a call fails at once while Redis is down (the caller is
    told UNAVAILABLE and retries), and a loading Redis says so instead of being waited for silently.
    A cluster client is returned before any node answers (wait_until_ready waits for that)."""
    if is_cluster_url(url):
        return LazyCluster(url, timeout)
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=min(timeout, 2.0),
                                health_check_interval=30, retry=Retry(NoBackoff(), 0))


def loading_progress(client: redis.Redis) -> str:
    """How far Redis is with loading its data, in words ('' where it does not say)."""
    try:
        info = client.info("persistence")
    except redis.RedisError:
        return ""
    if not info.get("loading"):
        return ""
    done = info.get("loading_loaded_perc")
    eta = info.get("loading_eta_seconds")
    return f"{float(done or 0):.1f}% loaded" + (f", about {int(eta)} s left" if eta is not None else "")


def wait_until_ready(client, where: str, timeout: float, alive: Callable[[], bool] | None = None) -> float:
    """Block until Redis answers PING; seconds spent waiting while it was loading.

    While Redis reports it is loading its data this waits however long that takes; otherwise it
    gives up after `timeout` seconds without an answer (RedisUnavailable). `where` names Redis in
    the log (redacted). `alive`, where given, says whether the Redis process is still running.
    """
    started = time.monotonic()
    deadline = started + timeout
    next_log = started + 1.0
    loading = 0.0
    while True:
        now = time.monotonic()
        try:
            _answers(client)
            if loading:
                log.info("Redis at %s has loaded its data (%.1f s)", where, loading)
            return loading
        except redis.BusyLoadingError:
            loading = now - started
            deadline = now + timeout  # loading is progress: wait as long as it lasts
            if now >= next_log:
                log.info("waiting for Redis at %s: loading its data (%s)", where, loading_progress(client) or "no progress reported")
                next_log = now + _LOG_EVERY
        except (redis.ConnectionError, redis.TimeoutError, OSError) as error:
            if alive is not None and not alive():
                raise RedisUnavailable(f"Redis at {where} exited while starting") from None
            if now >= deadline:
                raise RedisUnavailable(f"Redis at {where} did not answer within {timeout:.0f} s ({_reason(error)})") from None
            if now >= next_log:
                log.warning("waiting for Redis at %s (%s); giving up in %.0f s", where, _reason(error), deadline - now)
                next_log = now + _LOG_EVERY
        time.sleep(0.1)


def _answers(client) -> None:
    """PING; on a cluster also that it says its state is ok (every slot served), else as if it did not answer."""
    client.ping()
    if is_cluster(client):
        state = client.cluster_info().get("cluster_state")
        if state != "ok":
            raise redis.ConnectionError(f"cluster state is {state}")


def _reason(error: BaseException) -> str:
    """The error in a few words (redis-py's messages name the host and port, never the password)."""
    return f"{type(error).__name__}: {error}"[:200]
