"""FAISS collections, open-set identification and clustering over stored vectors (no gRPC, no Redis here)."""
