"""Generated stubs are never edited and never stale: regenerating them gives the same files. The .proto files, the
google/rpc ones shipped beside them included, compile alone, and a Node client reads a refusal's details with them."""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import ServerProcess

ROOT = Path(__file__).resolve().parents[1]
PROTO = ROOT / "proto"


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


def without_json_names(file):
    """The file's descriptor without the JSON names protoc adds to every field (a compiled module's descriptor has none)."""
    def strip(messages):
        for message in messages:
            for field in message.field:
                field.ClearField("json_name")
            strip(message.nested_type)

    strip(file.message_type)
    return file


def test_the_protos_compile_alone_and_ship_the_error_details_the_server_sends(tmp_path):
    grpc_tools = pytest.importorskip("grpc_tools.protoc", reason="grpcio-tools is in the test extra")
    from google.protobuf import descriptor_pb2
    from google.rpc import error_details_pb2, status_pb2

    protos = sorted(str(p.relative_to(PROTO)) for p in PROTO.rglob("*.proto"))
    assert {"google/rpc/status.proto", "google/rpc/error_details.proto"} <= set(protos)
    well_known = str(Path(grpc_tools.__file__).parent / "_proto")  # google/protobuf/*.proto only
    out = tmp_path / "all.pb"
    # Only this folder and protoc's own well-known types: nothing from elsewhere is needed.
    assert grpc_tools.main(["protoc", f"-I{PROTO}", f"-I{well_known}", f"--descriptor_set_out={out}", *protos]) == 0
    files = {f.name: f for f in descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file}
    # The shipped google/rpc files are the ones the server packs its details with (googleapis-common-protos).
    for module in (status_pb2, error_details_pb2):
        used = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(used)
        assert without_json_names(files[module.DESCRIPTOR.name]) == used, f"proto/{module.DESCRIPTOR.name} differs from what the server sends"
    for header in ("status.proto", "error_details.proto"):
        assert "Licensed under the Apache License" in (PROTO / "google" / "rpc" / header).read_text()


@pytest.fixture(scope="module")
def node_modules(tmp_path_factory) -> Path:
    """@grpc/grpc-js, @grpc/proto-loader and protobufjs from npm, in a folder of their own (skipped where unreachable)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed (.ci/run installs them)")
    folder = tmp_path_factory.mktemp("node")
    try:
        installed = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent", "@grpc/grpc-js", "@grpc/proto-loader",
                                    "protobufjs"], cwd=folder, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        pytest.skip("npm install took over 300 s: the registry is out of reach")
    if installed.returncode != 0:
        pytest.skip(f"npm cannot install the Node gRPC packages here: {installed.stderr.strip()[-500:]}")
    return folder / "node_modules"


def test_a_node_client_reads_a_refusal_and_its_details_with_keep_case(node_modules, tmp_path):
    from PIL import Image

    Image.new("RGB", (200, 200), (120, 120, 120)).save(tmp_path / "blank.png")  # no face: the Enroll is refused
    server = ServerProcess(tmp_path / "data").start()
    try:
        run = subprocess.run(["node", str(ROOT / "docs" / "examples" / "refusal.js"), server.address, str(tmp_path / "blank.png")],
                             capture_output=True, text=True, timeout=120, env={**os.environ, "NODE_PATH": str(node_modules)})
    finally:
        server.kill()
    assert run.returncode == 2, run.stderr[-3000:]
    refusal = json.loads(run.stdout.strip().splitlines()[-1])
    assert refusal["code"] == "FAILED_PRECONDITION"
    info, answer = refusal["details"]
    assert info["type"] == "google.rpc.ErrorInfo" and (info["domain"], info["reason"]) == ("facegrid.v1", "NO_USABLE_PHOTO")
    # keepCase: the .proto's own field names; enums by name.
    assert answer["type"] == "facegrid.v1.EnrollResponse" and answer["subject_id"] == "node-example"
    assert answer["photos"][0]["issue"] == "NO_FACE" and "template_id" in answer["photos"][0]
