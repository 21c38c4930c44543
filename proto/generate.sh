#!/usr/bin/env bash
# Regenerates the Python stubs beside the .proto files (tests/test_proto.py fails when they are stale).
# Needs grpcio-tools (the test extra): PYTHON=$PWD/.venv/bin/python proto/generate.sh
set -euo pipefail
cd "$(dirname "$0")"
"${PYTHON:-python}" -m grpc_tools.protoc -I. --python_out=. --pyi_out=. --grpc_python_out=. facegrid/v1/*.proto
