"""The REST API (FastAPI on uvicorn) and the web console, over the same service core as gRPC; no grpc here."""
