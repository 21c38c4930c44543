"""The index role's side of the split: encoder servers called over gRPC in place of local models."""
