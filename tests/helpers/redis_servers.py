"""Real Redis servers for the tests: one redis-server, or a Redis Cluster of several."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from .ports import port_free, server_port


class RedisServer:
    """A real `redis-server` on a free loopback port with AOF in its own folder; can be killed and restarted."""

    def __init__(self, folder: Path, *extra: str) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            pytest.skip("redis-server is not installed (CI installs it: apt-get install redis-server)")
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = server_port()
        self.extra = list(extra)
        self.process = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def client(self):
        """A client without retries (redis-py's default retries hide a dead or loading Redis for seconds)."""
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        return redis.Redis(port=self.port, socket_timeout=10, password=self.password, retry=Retry(NoBackoff(), 0))

    @property
    def password(self) -> str | None:
        return self.extra[self.extra.index("--requirepass") + 1] if "--requirepass" in self.extra else None

    def start(self, wait: bool = True) -> RedisServer:
        import redis

        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder), "--appendonly", "yes",
             "--appendfsync", "always", "--save", "", *self.extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = self.client()
        for _ in range(200 if wait else 0):
            try:
                client.ping()
                break
            except redis.BusyLoadingError:
                break  # answering, still loading: the caller waits if it wants to
            except (redis.ConnectionError, redis.TimeoutError):
                time.sleep(0.05)
        return self

    def kill(self) -> None:
        """SIGKILL: Redis gets no chance to clean up (every acknowledged write is in the AOF)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


class RedisClusterProcesses:
    """A real Redis Cluster of `masters` masters with `replicas` replicas each, from Debian's redis-server, on free
    loopback ports (and their bus ports, +10000) in `folder`: AOF on, node timeout 1000 ms (fast failovers).
    Made with `redis-cli --cluster create`; skipped with the reason where redis-server or redis-cli is missing."""

    def __init__(self, folder: Path, masters: int = 3, replicas: int = 1, node_timeout_ms: int = 1000) -> None:
        self.binary, self.cli = shutil.which("redis-server"), shutil.which("redis-cli")
        if self.binary is None or self.cli is None:
            pytest.skip("redis-server / redis-cli are not installed (CI installs them: apt-get install redis-server)")
        self.folder = Path(folder)
        self.masters, self.replicas, self.node_timeout_ms = masters, replicas, node_timeout_ms
        self.ports: list[int] = [self._pick_port() for _ in range(masters * (1 + replicas))]
        self.processes: dict[int, subprocess.Popen] = {}

    def _pick_port(self) -> int:
        """A free port whose bus port (+10000) is free too, both below the kernel's ephemeral range (32768 on):
        a port picked there can be taken by any outgoing connection before redis-server binds it (CI saw it)."""
        while True:
            port = server_port(20000, 22700)  # bus ports 30000-32700: also below the ephemeral range
            if port not in getattr(self, "ports", []) and port_free(port + 10000):
                return port

    @property
    def url(self) -> str:
        """facegrid's URL of the cluster (two nodes named; the client learns the rest)."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports[:2])

    def node(self, port: int):
        """A plain client of one node (no retries, as RedisServer.client)."""
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        return redis.Redis(port=port, socket_timeout=5, retry=Retry(NoBackoff(), 0))

    def _start_node(self, port: int) -> None:
        folder = self.folder / str(port)
        folder.mkdir(parents=True, exist_ok=True)
        self.processes[port] = subprocess.Popen(
            [self.binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder), "--cluster-enabled", "yes",
             "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", str(self.node_timeout_ms),
             "--cluster-replica-validity-factor", "0", "--appendonly", "yes", "--appendfsync", "always", "--save", "",
             "--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0", "--logfile", "redis.log"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def start(self) -> RedisClusterProcesses:
        try:
            self._create()
        except BaseException:
            self.stop()
            raise
        return self

    def _create(self) -> None:
        for port in self.ports:
            self._start_node(port)
        for index, port in enumerate(list(self.ports)):
            self.ports[index] = self._until_answering(port)
        made = subprocess.run([self.cli, "--cluster", "create", *[f"127.0.0.1:{p}" for p in self.ports],
                               "--cluster-replicas", str(self.replicas), "--cluster-yes"],
                              capture_output=True, text=True, timeout=60)
        if made.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed: {made.stdout[-2000:]} {made.stderr[-2000:]}")
        self.wait_healthy()

    def _until_answering(self, port: int, tries: int = 5) -> int:
        """The port the node answers on: a node that exited (its port taken meanwhile) is started on another."""
        for _ in range(tries):
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and self.processes[port].poll() is None:
                if _pings(self.node(port)):
                    return port
                time.sleep(0.1)
            if self.processes[port].poll() is None:
                break  # running but silent for 20 s: not a port race
            del self.processes[port]
            port = self._pick_port()
            self._start_node(port)
        log = self.folder / str(port) / "redis.log"
        tail = log.read_text(errors="replace")[-1500:] if log.exists() else "(no log)"
        raise RuntimeError(f"redis-server on {port} did not start: {tail}")

    def wait_healthy(self, timeout: float = 30) -> None:
        """Until every live node says the cluster is ok and every live replica is in sync with its master."""
        def healthy() -> bool:
            for port in self.live_ports():
                try:
                    client = self.node(port)
                    if client.execute_command("CLUSTER INFO").get("cluster_state") != "ok":
                        return False
                    info = client.info("replication")
                    if info.get("role") == "slave" and info.get("master_link_status") != "up":
                        return False
                except Exception:  # noqa: BLE001 - still starting
                    return False
            return True

        _until(healthy, timeout, "the Redis Cluster did not become healthy")

    def live_ports(self) -> list[int]:
        return [p for p, process in self.processes.items() if process.poll() is None]

    def masters_now(self) -> dict[int, str]:
        """Port -> node id of each live master."""
        found = {}
        for port in self.live_ports():
            client = self.node(port)
            if client.info("replication").get("role") == "master":
                found[port] = client.execute_command("CLUSTER MYID", NEVER_DECODE=True).decode()
        return found

    def master_of(self, key: str) -> int:
        """The port of the master serving `key`'s slot now."""
        client = self.node(self.live_ports()[0])
        slot = int(client.execute_command("CLUSTER KEYSLOT", key))
        for port in self.masters_now():
            for start, end, *_ in _slot_ranges(self.node(port)):
                if start <= slot <= end:
                    return port
        raise LookupError(f"no live master serves slot {slot}")

    def kill(self, port: int) -> None:
        """SIGKILL one node (no chance to clean up)."""
        self.processes[port].kill()
        self.processes[port].wait(timeout=10)

    def reshard(self, source: int, target: int, slots: int) -> subprocess.CompletedProcess:
        """Move `slots` slots from the master on port `source` to the one on `target` (redis-cli --cluster reshard)."""
        ids = self.masters_now()
        return subprocess.run([self.cli, "--cluster", "reshard", f"127.0.0.1:{target}", "--cluster-from", ids[source],
                               "--cluster-to", ids[target], "--cluster-slots", str(slots), "--cluster-yes",
                               "--cluster-pipeline", "100"], capture_output=True, text=True, timeout=120)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)


def _slot_ranges(client) -> list[tuple[int, int]]:
    """The slot ranges the node itself serves, from its CLUSTER NODES line."""
    for fields in client.execute_command("CLUSTER NODES").values():
        if "myself" in fields["flags"]:
            return [(int(r[0]), int(r[-1])) for r in fields["slots"]]
    return []


def _pings(client) -> bool:
    try:
        return bool(client.ping())
    except Exception:  # noqa: BLE001 - not up yet
        return False


def _until(condition, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(message)
        time.sleep(0.1)
