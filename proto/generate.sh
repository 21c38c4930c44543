#!/usr/bin/env bash
# Regenerates the Python stubs beside the .proto files (tests/test_proto.py fails when they are stale).
set -euo pipefail
cd "$(dirname "$0")"
python -m grpc_tools.protoc -I. --python_out=. --pyi_out=. --grpc_python_out=. facegrid/v1/*.proto
