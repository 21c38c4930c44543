"""Typed errors of the index library; server/ maps them to gRPC status codes."""


class IndexError_(Exception):
    """Base class for index errors (the underscore avoids shadowing the builtin IndexError)."""


class VectorError(IndexError_, ValueError):
    """A vector of the wrong shape, dtype or dimension, or with NaN/inf values."""


class CollectionNotFound(IndexError_, LookupError):
    """No collection under that name."""


class EngineError(IndexError_):
    """The vector engine (Milvus) failed a call for a reason other than being unreachable."""


class EngineUnavailable(EngineError):
    """The vector engine (Milvus) does not answer; the message names its URI (never a secret)."""


class EngineLost(EngineUnavailable):
    """The vector engine answers but no longer holds a collection's alias (it came back without its data): unavailable
    to callers until the server's catch-up has refilled it from Redis."""


class EngineMismatch(VectorError):
    """The engine holds a collection under this name that does not fit (another dimension): refused, never dropped."""
