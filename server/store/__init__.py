"""Storage: the Redis schema (system of record), its key names and the embedded Redis."""
