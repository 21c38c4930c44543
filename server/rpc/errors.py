"""Library errors to gRPC status codes: the one place where that mapping lives."""

from __future__ import annotations

import functools
import logging
import time

import grpc
import redis

from facegrid.encoder.errors import (AudioError, AudioTooLarge, BadText, ImageTooLarge, ImageError, MissingModality, ModelError, QueueFull, UnknownModel,
                                     WorkerDied)
from facegrid.index.calibration import CalibrationMissing
from facegrid.index.errors import CollectionNotFound, EngineMismatch, EngineUnavailable, VectorError

from ..domain.errors import (BadPassRequest, BadPhotoRequest, CallerGone, CollectionExists, ConfusableSubjectId, DoorNotFound, GroupingBusy, InvalidDoor,
                             InvalidKeyRequest, InvalidName, InvalidSubjectId, InvalidSubjectUpdate, KeyExists, KeyNotFound,
                             LivenessUnavailable, ModelMismatch, NoImageModel, NoUsableFace, NothingToUndo, PassNotHere,
                             PhotoNotHeld, SubjectNotFound, ThresholdUnmeasured, WrongCollectionKind)
from ..remote.errors import EncoderRefused, EncodersUnavailable
from .batches import BudgetFull, StreamIdle
from .error_details import details_of, status_with

log = logging.getLogger("facegrid.server")

# Most specific first: the first matching class decides.
STATUS_OF: list[tuple[type[BaseException], grpc.StatusCode]] = [
    (WorkerDied, grpc.StatusCode.UNAVAILABLE),  # retryable: a new worker takes the photo
    (EncodersUnavailable, grpc.StatusCode.UNAVAILABLE),  # the index role's encoders: none answered
    (ImageTooLarge, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (ImageError, grpc.StatusCode.INVALID_ARGUMENT),
    (AudioTooLarge, grpc.StatusCode.RESOURCE_EXHAUSTED),  # as photos over their limits
    (AudioError, grpc.StatusCode.INVALID_ARGUMENT),
    (UnknownModel, grpc.StatusCode.INVALID_ARGUMENT),
    (MissingModality, grpc.StatusCode.INVALID_ARGUMENT),  # asked a model for a tower it does not have
    (BadText, grpc.StatusCode.INVALID_ARGUMENT),
    (QueueFull, grpc.StatusCode.RESOURCE_EXHAUSTED),  # the batcher's queue: past what the server can take now
    (ModelError, grpc.StatusCode.FAILED_PRECONDITION),
    (InvalidSubjectId, grpc.StatusCode.INVALID_ARGUMENT),
    (ConfusableSubjectId, grpc.StatusCode.ALREADY_EXISTS),  # a look-alike of an enrolled id: the message names it
    (EngineMismatch, grpc.StatusCode.FAILED_PRECONDITION),  # Milvus holds the name with another dimension: refused
    (VectorError, grpc.StatusCode.INVALID_ARGUMENT),
    (EngineUnavailable, grpc.StatusCode.UNAVAILABLE),  # Milvus does not answer; retry once it is back (Redis kept the writes)
    (SubjectNotFound, grpc.StatusCode.NOT_FOUND),
    (CollectionNotFound, grpc.StatusCode.NOT_FOUND),
    (NoUsableFace, grpc.StatusCode.FAILED_PRECONDITION),
    (CalibrationMissing, grpc.StatusCode.FAILED_PRECONDITION),
    (NothingToUndo, grpc.StatusCode.FAILED_PRECONDITION),
    (CollectionExists, grpc.StatusCode.ALREADY_EXISTS),
    (GroupingBusy, grpc.StatusCode.ABORTED),
    (InvalidKeyRequest, grpc.StatusCode.INVALID_ARGUMENT),
    (KeyNotFound, grpc.StatusCode.NOT_FOUND),
    (KeyExists, grpc.StatusCode.ALREADY_EXISTS),
    (WrongCollectionKind, grpc.StatusCode.FAILED_PRECONDITION),
    (BadPhotoRequest, grpc.StatusCode.INVALID_ARGUMENT),
    (PhotoNotHeld, grpc.StatusCode.FAILED_PRECONDITION),
    (ModelMismatch, grpc.StatusCode.FAILED_PRECONDITION),  # the collection keeps its models: no silent mix
    (NoImageModel, grpc.StatusCode.FAILED_PRECONDITION),
    (ThresholdUnmeasured, grpc.StatusCode.FAILED_PRECONDITION),
    (InvalidName, grpc.StatusCode.INVALID_ARGUMENT),  # a group or door name
    (InvalidDoor, grpc.StatusCode.INVALID_ARGUMENT),  # a door's hours, time zone or fallback note
    (InvalidSubjectUpdate, grpc.StatusCode.INVALID_ARGUMENT),
    (BadPassRequest, grpc.StatusCode.INVALID_ARGUMENT),  # no frames, too many, one that is not a photo
    (DoorNotFound, grpc.StatusCode.NOT_FOUND),
    (LivenessUnavailable, grpc.StatusCode.FAILED_PRECONDITION),  # required, no model: the message names the import
    (PassNotHere, grpc.StatusCode.FAILED_PRECONDITION),  # the index role: no models to decode and score frames
    (redis.RedisError, grpc.StatusCode.UNAVAILABLE),
    (CallerGone, grpc.StatusCode.CANCELLED),  # nobody reads it: the caller has gone
    (StreamIdle, grpc.StatusCode.DEADLINE_EXCEEDED),  # the server's own time limit for a silent stream
    (BudgetFull, grpc.StatusCode.RESOURCE_EXHAUSTED),
]


class BadRequest(ValueError):
    """A request field out of range, found by the adapters' own checks."""


STATUS_OF.insert(0, (BadRequest, grpc.StatusCode.INVALID_ARGUMENT))


def status_of(error: BaseException | None) -> grpc.StatusCode:
    """The gRPC status code of an error (INTERNAL for one not in the table)."""
    if isinstance(error, EncoderRefused):  # an encoder server's own status for the input, passed on as it is
        return error.code
    for kind, code in STATUS_OF:
        if isinstance(error, kind):
            return code
    return grpc.StatusCode.INTERNAL


SERVER_TIME_KEY = "facegrid-server-ms"


def unavailable_message(error: BaseException) -> str:
    """What a caller is told when Redis fails: what happened and what to do, no address or secret."""
    if isinstance(error, redis.BusyLoadingError):
        return "the server's database (Redis) is loading its data; try again shortly"
    if isinstance(error, (redis.ConnectionError, redis.TimeoutError)):
        return "the server's database (Redis) does not answer; try again shortly"
    return f"the server's database (Redis) refused the change ({type(error).__name__}); try again later"


def grpc_errors(method):
    """Decorator for servicer methods: typed errors become status codes; the server keeps running.

    Every answer carries the handler's own time in trailing metadata
    (`facegrid-server-ms`), so a client can tell server work from transport.
    """

    @functools.wraps(method)
    def wrapper(self, request, context):
        started = time.perf_counter()
        try:
            reply = method(self, request, context)
            context.set_trailing_metadata(((SERVER_TIME_KEY, f"{(time.perf_counter() - started) * 1000:.3f}"),))
            return reply
        except Exception as error:  # noqa: BLE001 - every error becomes a status, none kills the server
            _abort(context, error, method.__name__)

    return wrapper


def grpc_stream_errors(method):
    """Decorator for servicer methods that answer with a stream: as `grpc_errors`, for the error that ends it."""

    @functools.wraps(method)
    def wrapper(self, requests, context):
        try:
            yield from method(self, requests, context)
        except Exception as error:  # noqa: BLE001 - every error becomes a status, none kills the server
            if not context.is_active():
                return  # the caller has gone (cancelled): nobody reads a status
            _abort(context, error, method.__name__)

    return wrapper


def _abort(context, error: Exception, name: str) -> None:
    """End the call with the error's status code, message and details."""
    code = status_of(error)
    if isinstance(error, redis.RedisError):
        log.error("%s failed: Redis: %s: %s", name, type(error).__name__, error)  # no traceback: an outage, not a bug
        context.abort(code, unavailable_message(error))
    if code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE):
        log.exception("%s failed", name, exc_info=error)
        message = f"{type(error).__name__}: {error}" if code is grpc.StatusCode.UNAVAILABLE else "internal error; see the server log"
    else:
        message = str(error)
    details = details_of(error)
    if details:  # machine-readable reasons beside the message (error_details.py)
        context.abort_with_status(status_with(code, message, details))
    context.abort(code, message)
