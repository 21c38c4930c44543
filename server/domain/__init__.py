"""Domain: the gate, photo libraries, grouping and plain-vector collections (no gRPC)."""
