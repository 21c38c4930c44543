"""Generated gRPC stubs (grpcio-tools) for facegrid.v1; do not edit: run proto/generate.sh."""
