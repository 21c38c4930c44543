"""Shared test helpers: run the `facegrid` command, read its JSON, start a real server process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest


def faces_dir_or_skip() -> Path:
    """../shared/data/faces; the calling test is skipped with the reason when it is absent (a user's clone)."""
    from facegrid.evaluation.datasets import DatasetMissing, faces_dir

    try:
        return faces_dir()
    except DatasetMissing as missing:
        pytest.skip(f"real face photos not available: {missing}")


def facegrid(*args: str, timeout: int = 1200, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the `facegrid` command as a user would; its completed process."""
    return subprocess.run(
        [sys.executable, "-m", "facegrid.clients.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def last_json(output: str) -> dict:
    """The one JSON object a `--json` command prints on its last line."""
    return json.loads(output.strip().splitlines()[-1])


class ServerProcess:
    """A real `facegrid serve` in its own process, on an ephemeral port, with its own data directory.

    `args`: more `facegrid serve` flags (an `--address` among them replaces 127.0.0.1:0).
    """

    def __init__(self, data_dir: Path, env: dict | None = None, args: list[str] | tuple = ()) -> None:
        self.data_dir = Path(data_dir)
        self.env = {**os.environ, **(env or {})}
        self.args = list(args)
        self.process = None
        self.address = None
        self.metrics_url = ""  # with --metrics-address among the args

    def start(self, timeout: float = 120.0) -> "ServerProcess":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / "server.log", "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "facegrid.clients.cli", "serve", *([] if "--address" in self.args else ["--address", "127.0.0.1:0"]),
             "--data-dir", str(self.data_dir), *self.args],
            stdout=subprocess.PIPE,
            stderr=log,
            env=self.env,
            text=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if line.startswith("facegrid serving on "):
                self.address = line.split()[3]
                if "--metrics-address" not in self.args:
                    return self
            elif line.startswith("facegrid metrics on "):  # printed after the serving line
                self.metrics_url = "http://" + line.split()[3]
                return self
            if not line and self.process.poll() is not None:
                break
        self.kill()
        raise RuntimeError("server did not start:\n" + (self.data_dir / "server.log").read_text()[-3000:])

    @property
    def local_address(self) -> str:
        """The address to call from this machine (127.0.0.1 for a server listening on every interface)."""
        host, port = self.address.rsplit(":", 1)
        return f"127.0.0.1:{port}" if host in ("0.0.0.0", "[::]") else self.address

    def client(self, **options):
        from facegrid.clients.sdk import Facegrid

        return Facegrid(self.local_address, **options)

    def stop(self) -> int:
        """SIGTERM: graceful shutdown."""
        self.process.terminate()
        return self.process.wait(timeout=60)

    def kill(self) -> None:
        """SIGKILL: no chance to clean up."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_port(low: int = 23000, high: int = 29999) -> int:
    """A free port for a server the tests start (and may restart on the same port), below the kernel's ephemeral
    range (32768 on), where any outgoing connection could take it between this check and the server's bind."""
    import random

    while True:
        port = random.randint(low, high)
        if _port_free(port):
            return port


class RedisServer:
    """A real `redis-server` on a free loopback port with AOF in its own folder; can be killed and restarted."""

    def __init__(self, folder: Path, *extra: str) -> None:
        import shutil

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

    def start(self, wait: bool = True) -> "RedisServer":
        import subprocess
        import time

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
        import shutil

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
            if port not in getattr(self, "ports", []) and _port_free(port + 10000):
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

    def start(self) -> "RedisClusterProcesses":
        import redis

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


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _until(condition, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(message)
        time.sleep(0.1)


# ---- checkpoints in the formats operators have (torch only here and in the importers) -----------------------

def save_openclip_state_dict(arch: str, path: Path, seed: int = 0, wrap: bool = True):
    """A randomly initialised open_clip model of a real architecture, saved as open_clip's training does
    ({"state_dict": ..., "module."-prefixed by DistributedDataParallel}); the model (eval mode) is returned."""
    import open_clip
    import torch

    torch.manual_seed(seed)
    model = open_clip.create_model(arch, pretrained=None).eval()
    state = model.state_dict()
    torch.save({"epoch": 1, "name": arch, "state_dict": {f"module.{k}": v for k, v in state.items()}} if wrap else state, path)
    return model


def save_openai_torchscript(arch: str, path: Path, seed: int = 0) -> None:
    """A CLIP saved the way OpenAI's .pt files are: a traced TorchScript module, fp16 weights, QuickGELU,
    with input_resolution / context_length / vocab_size tensors and the attention mask a constant, not a weight."""
    import open_clip
    import torch

    torch.manual_seed(seed)
    model = open_clip.create_model(arch, pretrained=None, force_quick_gelu=True).eval()
    size = model.visual.image_size
    mask = model._buffers.pop("attn_mask")
    model.attn_mask = mask  # a plain attribute, as in OpenAI's code: traced as a constant
    context, vocab = model.context_length, model.vocab_size
    del model.context_length, model.vocab_size
    model.register_buffer("input_resolution", torch.tensor(size[0] if isinstance(size, tuple) else size))
    model.register_buffer("context_length", torch.tensor(context))
    model.register_buffer("vocab_size", torch.tensor(vocab))
    with torch.no_grad():
        traced = torch.jit.trace(model, (torch.randn(1, 3, 224, 224), open_clip.tokenize(["a dog"])), check_trace=False, strict=False)
    traced.half().save(str(path))


def save_torchvision_state_dict(arch: str, path: Path, style: str = "full", seed: int = 0):
    """A randomly initialised torchvision model saved as a self-supervised trainer would; the model (eval) is returned.

    style: "full" (torchvision's own state dict, classifier included), "lightly" (a module holding
    nn.Sequential(*children[:-1]) as .backbone, and a projection head), "solo-learn" (a Lightning checkpoint
    with backbone.* without fc, projector.*, classifier.*)."""
    import torch
    import torchvision

    torch.manual_seed(seed)
    model = torchvision.models.get_model(arch, weights=None).eval()
    # BatchNorm running statistics at their initial values would hide a wrongly loaded buffer.
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    if style == "full":
        torch.save(model.state_dict(), path)
    elif style == "lightly":
        holder = torch.nn.Module()
        holder.backbone = torch.nn.Sequential(*list(model.children())[:-1])
        holder.projection_head = torch.nn.Sequential(torch.nn.Linear(model.fc.in_features, 128))
        torch.save(holder.state_dict(), path)
    elif style == "solo-learn":
        state = {f"backbone.{k}": v for k, v in model.state_dict().items() if not k.startswith("fc.")}
        state.update({"projector.0.weight": torch.zeros(128, model.fc.in_features), "classifier.weight": torch.zeros(10, model.fc.in_features),
                      "momentum_backbone.conv1.weight": torch.zeros(1)})
        torch.save({"epoch": 9, "global_step": 90, "state_dict": state, "hyper_parameters": {"lr": 0.3}}, path)
    else:
        raise ValueError(style)
    return model


def make_test_pki(folder: Path) -> Path:
    """A CA (ca.pem) with a server certificate for 127.0.0.1 / localhost (server.pem, server.key) and a client
    certificate (client.pem, client.key), made by `openssl` (skipped where it is not installed)."""
    import shutil

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: no certificates to test with")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=facegrid test CA")
    (folder / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    (folder / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name in ("server", "client"):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN=facegrid test {name}")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext")
    return folder
