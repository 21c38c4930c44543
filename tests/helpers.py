"""Shared test helpers: run the `facegrid` command, read its JSON, start a real server process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest


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


class RedisServer:
    """A real `redis-server` on a free loopback port with AOF in its own folder; can be killed and restarted."""

    def __init__(self, folder: Path, *extra: str) -> None:
        import shutil

        self.binary = shutil.which("redis-server")
        if self.binary is None:
            pytest.skip("redis-server is not installed (CI installs it: apt-get install redis-server)")
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
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
