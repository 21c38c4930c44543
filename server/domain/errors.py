"""The service core's typed errors; domain/error_kinds.py says what kind of failure each is (gRPC code, HTTP status)."""

from __future__ import annotations

from facegrid.encoder.errors import EncoderError
from facegrid.encoder.quality import FaceQuality

from .refusals import PhotoIssue


class GateError(Exception):
    """Base class of the gate's own errors."""


class InvalidSubjectId(GateError, ValueError):
    """A subject id that breaks the id rule (empty, too long, a character not allowed): INVALID_ARGUMENT."""
    pass


class SubjectNotFound(GateError, LookupError):
    """No subject has this id: NOT_FOUND."""
    pass


class ConfusableSubjectId(GateError):
    """A new subject id looks like an enrolled subject's (`existing`): a person reading either could not tell them apart."""

    def __init__(self, message: str, existing: str) -> None:
        super().__init__(message)
        self.existing = existing


class NoUsableFace(GateError):
    """The photo has no face the gate can use: the message says why in the operator's words, `issue` in a
    machine's (None where no photo is at fault, e.g. a subject without templates of this model)."""

    def __init__(self, reason: str, issue: PhotoIssue | None = None, quality: FaceQuality | None = None,
                 box: tuple[float, float, float, float] | None = None) -> None:
        super().__init__(reason)
        self.reason, self.issue, self.quality, self.box = reason, issue, quality, box


class EnrollmentRefused(NoUsableFace):
    """No photo of an Enroll call was accepted; `outcomes` (gate.PhotoOutcome) say why for each."""

    def __init__(self, reason: str, subject_id: str, outcomes: list, templates: int) -> None:
        super().__init__(reason)
        self.subject_id, self.outcomes, self.templates = subject_id, outcomes, templates


class CallerGone(Exception):
    """The caller has cancelled or its deadline has passed: the rest of the work is not done."""


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


class GroupingBusy(Exception):
    """Another server held the collection's grouping lock for longer than a call waits."""


class InvalidKeyRequest(ValueError):
    """A key name or scope that the rules do not allow."""


class KeyExists(ValueError):
    """A live key already has this name."""


class KeyNotFound(LookupError):
    """No key has this name."""


class ModelMismatch(Exception):
    """A request names another model than the collection records (its face or image model): vectors of
    two models are not comparable, so nothing is mixed."""


class NoImageModel(Exception):
    """Whole-photo search, near-duplicates or photo k-means on a collection that has no image model."""


class ThresholdUnmeasured(Exception):
    """No near-duplicate threshold has been measured for the collection's image model, and none was given."""


class InvalidName(ValueError):
    """A group or door name that breaks the naming rule (domain/groups.py)."""


class InvalidDoor(ValueError):
    """A door's rule that cannot be used: bad hours, time zone or fallback note."""


class DoorNotFound(LookupError):
    """No door has this name."""


class InvalidSubjectUpdate(ValueError):
    """An UpdateSubject request with a status or expiry that cannot be stored."""


class BadPassRequest(ValueError):
    """A Pass call that cannot be decided as sent: no frames or too many, a frame that is not a photo, bad timings."""


class LivenessUnavailable(Exception):
    """Liveness is required and no liveness model is loaded: Pass cannot decide (never a silent accept)."""


class PassNotHere(Exception):
    """Pass on a server without the models (the index role): the frames must be decoded where the models are."""


class BadRequest(ValueError):
    """A request field out of range or missing, found by the service core's own checks (either transport's caller)."""


class StreamIdle(Exception):
    """A stream sent nothing for too long while the server owed it nothing."""


class BudgetFull(Exception):
    """The photos in flight on all streams filled the shared byte budget, and no room came in time."""


# --- the encoder servers of the index role (server/remote/): their failures reach callers through the core --------


class EncoderRefused(EncoderError):
    """An encoder server refused the input (an unreadable photo, an unknown model, a full queue): its status and
    message are passed on to the caller as they are, as if the model had run here. `code` is the canonical code's
    name the encoder answered with ("INVALID_ARGUMENT"): the kind of this failure (error_kinds.kind_of)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class EncodersUnavailable(Exception):
    """Every encoder server was tried and none answered (down, unreachable, past its deadline, or refusing this
    server's key): the message names each address and what it said."""


class EncodersBusy(EncoderRefused):
    """Every encoder server that answered refused the call for load (its queue full): RESOURCE_EXHAUSTED with
    the OVERLOADED reason, so the caller retries shortly; the message names each address and what it said."""

    def __init__(self, message: str) -> None:
        super().__init__("RESOURCE_EXHAUSTED", message)
