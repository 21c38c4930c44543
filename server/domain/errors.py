"""The domain's typed errors; server/rpc/errors.py maps each to a gRPC status code."""

from __future__ import annotations


class GateError(Exception):
    """Base class of the gate's own errors."""


class InvalidSubjectId(GateError, ValueError):
    pass


class SubjectNotFound(GateError, LookupError):
    pass


class NoUsableFace(GateError):
    """The photo has no face the gate can use; `reason` says why in the operator's words."""


class CollectionExists(ValueError):
    """The name is taken by a collection of another kind or dimension."""


class WrongCollectionKind(Exception):
    """Photos sent to a collection of plain vectors, or plain vectors to a collection of faces."""


class BadPhotoRequest(ValueError):
    """A bulk-indexing request that names no photo: no bytes, and no well-formed sha256 either."""


class PhotoNotHeld(LookupError):
    """A photo named by its sha256 alone that the collection does not hold yet: send its bytes."""


class NothingToUndo(LookupError):
    """No correction is left to take back."""


class InvalidKeyRequest(ValueError):
    """A key name or scope that the rules do not allow."""


class KeyExists(ValueError):
    """A live key already has this name."""


class KeyNotFound(LookupError):
    """No key has this name."""
