"""The package as users install it: a built wheel (no `-e`, no source tree on the path) in a fresh venv.

An editable install finds modules in the source tree, so a package the wheel leaves out goes unnoticed there;
here every module is imported from the installed wheel, and `facegrid serve` must come up SERVING.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = Path(__file__).resolve().parents[1]

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
    """facegrid built as a wheel, as `pip install .` would build it."""
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
                           capture_output=True, text=True, timeout=600, env=clean_env())
    assert built.returncode == 0, built.stderr[-3000:]
    return next(out.glob("facegrid-*.whl"))


def venv_with(folder: Path, requirement: str) -> Path:
    """A fresh venv holding `requirement` (pip takes the dependencies from its cache or the index); its python."""
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True, timeout=300)
    python = folder / "bin" / "python"
    installed = subprocess.run([str(python), "-m", "pip", "install", "-q", requirement], capture_output=True, text=True,
                               timeout=900, env=clean_env())
    assert installed.returncode == 0, installed.stderr[-3000:]
    return python


@pytest.fixture(scope="module")
def server_venv(wheel, tmp_path_factory) -> Path:
    """The wheel with the CPU server stack, `facegrid[cpu]`."""
    return venv_with(tmp_path_factory.mktemp("venv-cpu") / "venv", f"{wheel}[cpu]")


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
    env = clean_env(FACEGRID_DATA_DIR=str(tmp_path / "data"))
    process = subprocess.Popen([str(server_venv.parent / "facegrid"), "serve", "--address", "127.0.0.1:0"], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
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
    finally:
        process.terminate()
        process.wait(timeout=60)
