"""What kind of failure each typed error is: the one table that every transport reads.

A kind is a google.rpc canonical code; it names the gRPC status code (server/rpc/errors.py takes it by name) and
the HTTP status (google.rpc's own mapping, https://cloud.google.com/apis/design/errors), so gRPC and REST callers
cannot be told different things about one failure. What the caller is told (`caller_message`), what is logged
(`log_failure`) and the machine-readable reason (`reason_of`) are decided here too, for the same reason.
"""

from __future__ import annotations

import logging
from enum import Enum

import redis

from facegrid.encoder.batcher import BatcherClosed
from facegrid.encoder.errors import (AudioError, AudioTooLarge, BadModelFolder, BadText, EncoderError, ImageError, ImageTooLarge,
                                     ImportFailed, MissingModality, ModelError, ModelWeightsMissing, QueueFull, UnknownModel,
                                     UnreadableAudio, UnreadableImage, WorkerDied)
from facegrid.encoder.models.dlib_dat import DatFormatError
from facegrid.index.calibration import CalibrationMissing
from facegrid.index.errors import (CollectionNotFound, EngineError, EngineLost, EngineMismatch, EngineUnavailable, IndexError_,
                                   VectorError)

from .call_slots import SlotsFull
from .callers import NotAuthenticated, NotPermitted
from .door_hours import BadHours
from .roster_file import RosterError
from .errors import (BadPassRequest, BadPhotoRequest, BadRequest, BudgetFull, CallerGone, CollectionExists, ConfusableSubjectId,
                     DoorNotFound, EncoderRefused, EncodersBusy, EncodersUnavailable, EnrollmentRefused, GateError, GroupingBusy,
                     InvalidDoor, InvalidKeyRequest, InvalidName, InvalidSubjectId, InvalidSubjectUpdate, KeyExists, KeyNotFound,
                     LivenessUnavailable, ModelMismatch, NoImageModel, NoUsableFace, NothingToUndo, PassNotHere, PhotoNotHeld,
                     StreamIdle, SubjectNotFound, ThresholdUnmeasured, WrongCollectionKind)
from .key_file import KeyFileError

log = logging.getLogger("facegrid.server")


class ErrorKind(Enum):
    """A google.rpc canonical code: (its number, its HTTP status)."""

    CANCELLED = (1, 499)
    UNKNOWN = (2, 500)
    INVALID_ARGUMENT = (3, 400)
    DEADLINE_EXCEEDED = (4, 504)
    NOT_FOUND = (5, 404)
    ALREADY_EXISTS = (6, 409)
    PERMISSION_DENIED = (7, 403)
    RESOURCE_EXHAUSTED = (8, 429)
    FAILED_PRECONDITION = (9, 400)
    ABORTED = (10, 409)
    OUT_OF_RANGE = (11, 400)
    UNIMPLEMENTED = (12, 501)
    INTERNAL = (13, 500)
    UNAVAILABLE = (14, 503)
    DATA_LOSS = (15, 500)
    UNAUTHENTICATED = (16, 401)

    @property
    def code(self) -> int:
        """The canonical code's number (google.rpc.Code, the gRPC status code's value)."""
        return self.value[0]

    @property
    def http_status(self) -> int:
        """The HTTP status google.rpc maps the code to."""
        return self.value[1]


K = ErrorKind
# Each class's own kind; a class not listed takes its nearest listed base's (kind_of walks the MRO), anything else
# is INTERNAL. tests/test_error_kinds.py checks that every error class of encoder/, index/ and the domain is here.
ERROR_KINDS: dict[type[BaseException], ErrorKind] = {
    # encoder/: the input, the models, the workers
    EncoderError: K.INTERNAL,  # the base: an unexpected failure inside the pipeline, wrapped with its cause
    ImageError: K.INVALID_ARGUMENT,
    UnreadableImage: K.INVALID_ARGUMENT,
    ImageTooLarge: K.RESOURCE_EXHAUSTED,  # the input's fault: no OVERLOADED reason, so no client sends it again
    AudioError: K.INVALID_ARGUMENT,
    UnreadableAudio: K.INVALID_ARGUMENT,
    AudioTooLarge: K.RESOURCE_EXHAUSTED,  # as photos over their limits
    BadText: K.INVALID_ARGUMENT,
    ModelError: K.FAILED_PRECONDITION,
    UnknownModel: K.INVALID_ARGUMENT,
    MissingModality: K.INVALID_ARGUMENT,  # asked a model for a tower it does not have
    ModelWeightsMissing: K.FAILED_PRECONDITION,
    BadModelFolder: K.FAILED_PRECONDITION,
    ImportFailed: K.FAILED_PRECONDITION,
    DatFormatError: K.FAILED_PRECONDITION,  # a dlib weight file that cannot be read (models import)
    QueueFull: K.RESOURCE_EXHAUSTED,  # the batcher's queue: past what the server can take now (OVERLOADED)
    WorkerDied: K.UNAVAILABLE,  # retryable: a new worker takes the photo
    BatcherClosed: K.UNAVAILABLE,  # the server is stopping: another one (or this one, restarted) takes the call
    # index/: vectors, collections, the vector engine, thresholds
    IndexError_: K.INTERNAL,
    VectorError: K.INVALID_ARGUMENT,
    EngineMismatch: K.FAILED_PRECONDITION,  # Milvus holds the name with another dimension: refused
    CollectionNotFound: K.NOT_FOUND,
    EngineError: K.INTERNAL,  # Milvus failed for another reason than being unreachable
    EngineUnavailable: K.UNAVAILABLE,  # Milvus does not answer; retry once it is back (Redis kept the writes)
    EngineLost: K.UNAVAILABLE,  # until the catch-up has refilled it from Redis
    CalibrationMissing: K.FAILED_PRECONDITION,
    # the gate
    GateError: K.INTERNAL,  # the base, never raised itself
    InvalidSubjectId: K.INVALID_ARGUMENT,
    SubjectNotFound: K.NOT_FOUND,
    ConfusableSubjectId: K.ALREADY_EXISTS,  # a look-alike of an enrolled id: the message names it
    NoUsableFace: K.FAILED_PRECONDITION,
    EnrollmentRefused: K.FAILED_PRECONDITION,  # reason NO_USABLE_PHOTO, every photo's outcome in the details
    InvalidSubjectUpdate: K.INVALID_ARGUMENT,
    # doors and Pass
    InvalidName: K.INVALID_ARGUMENT,  # a group or door name
    InvalidDoor: K.INVALID_ARGUMENT,  # a door's hours, time zone or fallback note
    BadHours: K.INVALID_ARGUMENT,
    DoorNotFound: K.NOT_FOUND,
    BadPassRequest: K.INVALID_ARGUMENT,  # no frames, too many, one that is not a photo
    LivenessUnavailable: K.FAILED_PRECONDITION,  # required, no model: the message names the import
    PassNotHere: K.FAILED_PRECONDITION,  # the index role: no models to decode and score frames
    # keys
    InvalidKeyRequest: K.INVALID_ARGUMENT,
    KeyNotFound: K.NOT_FOUND,
    KeyExists: K.ALREADY_EXISTS,
    NotAuthenticated: K.UNAUTHENTICATED,  # no key, a malformed header, an unknown or revoked key
    NotPermitted: K.PERMISSION_DENIED,  # a live key without the call's scope or door
    KeyFileError: K.INTERNAL,  # the encoder role's keys file: the server's own configuration, never the caller's fault
    # photo libraries and collections
    CollectionExists: K.ALREADY_EXISTS,
    WrongCollectionKind: K.FAILED_PRECONDITION,
    BadPhotoRequest: K.INVALID_ARGUMENT,
    PhotoNotHeld: K.FAILED_PRECONDITION,
    NothingToUndo: K.FAILED_PRECONDITION,
    GroupingBusy: K.ABORTED,
    ModelMismatch: K.FAILED_PRECONDITION,  # the collection keeps its models: no silent mix
    NoImageModel: K.FAILED_PRECONDITION,
    ThresholdUnmeasured: K.FAILED_PRECONDITION,
    # calls and streams
    BadRequest: K.INVALID_ARGUMENT,
    RosterError: K.INVALID_ARGUMENT,  # a roster file that cannot be used at all (the console's import)
    CallerGone: K.CANCELLED,  # nobody reads it: the caller has gone
    StreamIdle: K.DEADLINE_EXCEEDED,  # the server's own time limit for a silent stream
    BudgetFull: K.RESOURCE_EXHAUSTED,  # OVERLOADED
    SlotsFull: K.RESOURCE_EXHAUSTED,  # OVERLOADED: every stream or long-call slot is taken
    # the index role's encoder servers (EncoderRefused and EncodersBusy carry the encoder's own code)
    EncodersUnavailable: K.UNAVAILABLE,
    # Redis, the system of record
    redis.RedisError: K.UNAVAILABLE,
}

OVERLOADED = "OVERLOADED"  # reason of a refusal for load: busy, not broken; retry (elsewhere)
NO_USABLE_PHOTO = "NO_USABLE_PHOTO"  # reason of an Enroll call with no photo accepted
RETRY_AFTER_S = 0.2  # how long a caller refused for load waits before it retries: a model batch or two


# HTTP says more than google.rpc's table for some failures: an input too large to take is 413 Content Too Large
# (429 would tell the caller to send the same bytes again later); gRPC callers get RESOURCE_EXHAUSTED all the same.
HTTP_STATUS_OF: dict[type[BaseException], int] = {ImageTooLarge: 413, AudioTooLarge: 413}


def http_status_of(error: BaseException, kind: ErrorKind) -> int:
    """The HTTP status of a failure: the kind's, unless HTTP has a closer one for the error (HTTP_STATUS_OF)."""
    for cls in type(error).__mro__:
        if cls in HTTP_STATUS_OF:
            return HTTP_STATUS_OF[cls]
    return kind.http_status


def kind_of(error: BaseException | None) -> ErrorKind:
    """The kind of failure an error is: an encoder server's own code, else its class's (or nearest base's), else INTERNAL."""
    if isinstance(error, EncoderRefused):  # passed on as the encoder answered
        return ErrorKind[error.code]
    for cls in type(error).__mro__:
        kind = ERROR_KINDS.get(cls)
        if kind is not None:
            return kind
    return ErrorKind.INTERNAL


def overloaded(error: BaseException) -> bool:
    """Whether the call was refused for load (the server is well, only busy), not for its input."""
    return isinstance(error, (QueueFull, BudgetFull, EncodersBusy, SlotsFull))


def reason_of(error: BaseException) -> str:
    """The machine-readable reason of a failure ("" where it has none): OVERLOADED, NO_USABLE_PHOTO, or the photo's issue."""
    if overloaded(error):
        return OVERLOADED
    if isinstance(error, EnrollmentRefused):
        return NO_USABLE_PHOTO
    if isinstance(error, NoUsableFace) and error.issue is not None:
        return error.issue.value
    return ""


def unavailable_message(error: BaseException) -> str:
    """What a caller is told when Redis fails: what happened and what to do, no address or secret."""
    if isinstance(error, redis.BusyLoadingError):
        return "the server's database (Redis) is loading its data; try again shortly"
    if isinstance(error, (redis.ConnectionError, redis.TimeoutError)):
        return "the server's database (Redis) does not answer; try again shortly"
    return f"the server's database (Redis) refused the change ({type(error).__name__}); try again later"


def caller_message(error: BaseException, kind: ErrorKind) -> str:
    """What the caller of a failed call is told: the error's own words, but no server internals (they go to the log)."""
    if isinstance(error, redis.RedisError):
        return unavailable_message(error)
    if kind is ErrorKind.INTERNAL:
        return "internal error; see the server log"
    if kind is ErrorKind.UNAVAILABLE:
        return f"{type(error).__name__}: {error}"
    return str(error)


def item_message(error: BaseException) -> str:
    """What one item of a bulk call (a photo of IndexPhotos) says of its failure; the call goes on."""
    return unavailable_message(error) if isinstance(error, redis.RedisError) else str(error)


def log_failure(name: str, error: BaseException, kind: ErrorKind) -> None:
    """Log a failed call where the server is at fault: a Redis outage in one line, anything else with its traceback."""
    if isinstance(error, redis.RedisError):
        log.error("%s failed: Redis: %s: %s", name, type(error).__name__, error)  # no traceback: an outage, not a bug
    elif kind in (ErrorKind.INTERNAL, ErrorKind.UNAVAILABLE):
        log.exception("%s failed", name, exc_info=error)
