"""gRPC services, the Redis schema and the serve command: thin adapters over encoder/ and index/."""
