"""gRPC adapters: services, messages, the status table and auth."""
