"""Typed errors of the index library; server/ maps them to gRPC status codes."""


class IndexError_(Exception):
    """Base class for index errors (the underscore avoids shadowing the builtin IndexError)."""


class VectorError(IndexError_, ValueError):
    """A vector of the wrong shape, dtype or dimension, or with NaN/inf values."""


class CollectionNotFound(IndexError_, LookupError):
    """No collection under that name."""
