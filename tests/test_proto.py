"""Generated stubs are never edited and never stale: regenerating them gives the same files."""

from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

import pytest

PROTO = Path(__file__).resolve().parents[1] / "proto"


def test_stubs_match_the_proto_files(tmp_path):
    grpc_tools = pytest.importorskip("grpc_tools.protoc", reason="grpcio-tools is in the test extra")
    shutil.copytree(PROTO / "facegrid", tmp_path / "facegrid", ignore=shutil.ignore_patterns("*.py", "*.pyi", "__pycache__"))
    protos = sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "facegrid" / "v1").glob("*.proto"))
    include = str(Path(grpc_tools.__file__).parent / "_proto")
    args = ["protoc", f"-I{tmp_path}", f"-I{include}", f"--python_out={tmp_path}", f"--pyi_out={tmp_path}",
            f"--grpc_python_out={tmp_path}", *[str(tmp_path / p) for p in protos]]
    assert grpc_tools.main(args) == 0
    for generated in sorted((tmp_path / "facegrid" / "v1").glob("*_pb2*.py*")):
        committed = PROTO / "facegrid" / "v1" / generated.name
        assert committed.exists(), f"{committed.name} is missing: run proto/generate.sh"
        assert filecmp.cmp(generated, committed, shallow=False), f"{committed.name} is stale: run proto/generate.sh"
