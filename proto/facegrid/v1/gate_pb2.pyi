from facegrid.v1 import encoder_pb2 as _encoder_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PhotoIssue(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PHOTO_ISSUE_UNSPECIFIED: _ClassVar[PhotoIssue]
    NO_FACE: _ClassVar[PhotoIssue]
    SEVERAL_FACES: _ClassVar[PhotoIssue]
    FACE_TOO_SMALL: _ClassVar[PhotoIssue]
    BLURRED: _ClassVar[PhotoIssue]
    TURNED_AWAY: _ClassVar[PhotoIssue]
    UNCLEAR: _ClassVar[PhotoIssue]
    UNREADABLE: _ClassVar[PhotoIssue]
    NOT_LIKE_SUBJECT: _ClassVar[PhotoIssue]

class UnknownReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    UNKNOWN_REASON_UNSPECIFIED: _ClassVar[UnknownReason]
    NO_SUBJECTS: _ClassVar[UnknownReason]
    BELOW_THRESHOLD: _ClassVar[UnknownReason]
    TOO_CLOSE_TO_RUNNER_UP: _ClassVar[UnknownReason]
    NOT_ENROLLED: _ClassVar[UnknownReason]

class SubjectStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SUBJECT_ACTIVE: _ClassVar[SubjectStatus]
    SUBJECT_SUSPENDED: _ClassVar[SubjectStatus]

class PassDecision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DENY: _ClassVar[PassDecision]
    ACCEPT: _ClassVar[PassDecision]

class PassReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PASS_REASON_UNSPECIFIED: _ClassVar[PassReason]
    ADMITTED: _ClassVar[PassReason]
    NO_MATCH: _ClassVar[PassReason]
    UNKNOWN_PERSON: _ClassVar[PassReason]
    PRESENTATION_ATTACK: _ClassVar[PassReason]
    LIVENESS_UNCERTAIN: _ClassVar[PassReason]
    MORE_THAN_ONE_FACE: _ClassVar[PassReason]
    POOR_QUALITY: _ClassVar[PassReason]
    NOT_ALLOWED_HERE: _ClassVar[PassReason]
    OUTSIDE_HOURS: _ClassVar[PassReason]
    SUSPENDED: _ClassVar[PassReason]
    EXPIRED: _ClassVar[PassReason]
    UNKNOWN_DOOR: _ClassVar[PassReason]
    CHALLENGE_FAILED: _ClassVar[PassReason]
    SERVER_UNAVAILABLE: _ClassVar[PassReason]

class Liveness(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NOT_CHECKED: _ClassVar[Liveness]
    LIVE: _ClassVar[Liveness]
    ATTACK: _ClassVar[Liveness]
    UNCERTAIN: _ClassVar[Liveness]

class ScoreBand(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BAND_UNSPECIFIED: _ClassVar[ScoreBand]
    LOW: _ClassVar[ScoreBand]
    MEDIUM: _ClassVar[ScoreBand]
    HIGH: _ClassVar[ScoreBand]

class Challenge(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NO_CHALLENGE: _ClassVar[Challenge]
    TURN_LEFT: _ClassVar[Challenge]
    TURN_RIGHT: _ClassVar[Challenge]
    LOOK_UP: _ClassVar[Challenge]
PHOTO_ISSUE_UNSPECIFIED: PhotoIssue
NO_FACE: PhotoIssue
SEVERAL_FACES: PhotoIssue
FACE_TOO_SMALL: PhotoIssue
BLURRED: PhotoIssue
TURNED_AWAY: PhotoIssue
UNCLEAR: PhotoIssue
UNREADABLE: PhotoIssue
NOT_LIKE_SUBJECT: PhotoIssue
UNKNOWN_REASON_UNSPECIFIED: UnknownReason
NO_SUBJECTS: UnknownReason
BELOW_THRESHOLD: UnknownReason
TOO_CLOSE_TO_RUNNER_UP: UnknownReason
NOT_ENROLLED: UnknownReason
SUBJECT_ACTIVE: SubjectStatus
SUBJECT_SUSPENDED: SubjectStatus
DENY: PassDecision
ACCEPT: PassDecision
PASS_REASON_UNSPECIFIED: PassReason
ADMITTED: PassReason
NO_MATCH: PassReason
UNKNOWN_PERSON: PassReason
PRESENTATION_ATTACK: PassReason
LIVENESS_UNCERTAIN: PassReason
MORE_THAN_ONE_FACE: PassReason
POOR_QUALITY: PassReason
NOT_ALLOWED_HERE: PassReason
OUTSIDE_HOURS: PassReason
SUSPENDED: PassReason
EXPIRED: PassReason
UNKNOWN_DOOR: PassReason
CHALLENGE_FAILED: PassReason
SERVER_UNAVAILABLE: PassReason
NOT_CHECKED: Liveness
LIVE: Liveness
ATTACK: Liveness
UNCERTAIN: Liveness
BAND_UNSPECIFIED: ScoreBand
LOW: ScoreBand
MEDIUM: ScoreBand
HIGH: ScoreBand
NO_CHALLENGE: Challenge
TURN_LEFT: Challenge
TURN_RIGHT: Challenge
LOOK_UP: Challenge

class EnrollRequest(_message.Message):
    __slots__ = ("subject_id", "photos", "display_name", "groups", "replace")
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    PHOTOS_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    REPLACE_FIELD_NUMBER: _ClassVar[int]
    subject_id: str
    photos: _containers.RepeatedScalarFieldContainer[bytes]
    display_name: str
    groups: _containers.RepeatedScalarFieldContainer[str]
    replace: bool
    def __init__(self, subject_id: _Optional[str] = ..., photos: _Optional[_Iterable[bytes]] = ..., display_name: _Optional[str] = ..., groups: _Optional[_Iterable[str]] = ..., replace: _Optional[bool] = ...) -> None: ...

class PhotoRefusal(_message.Message):
    __slots__ = ("issue", "reason", "face", "quality")
    ISSUE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    FACE_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    issue: PhotoIssue
    reason: str
    face: _encoder_pb2.Box
    quality: _encoder_pb2.Quality
    def __init__(self, issue: _Optional[_Union[PhotoIssue, str]] = ..., reason: _Optional[str] = ..., face: _Optional[_Union[_encoder_pb2.Box, _Mapping]] = ..., quality: _Optional[_Union[_encoder_pb2.Quality, _Mapping]] = ...) -> None: ...

class PhotoOutcome(_message.Message):
    __slots__ = ("index", "accepted", "template_id", "reason", "warnings", "duplicate", "quality", "issue", "resembles")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    ISSUE_FIELD_NUMBER: _ClassVar[int]
    RESEMBLES_FIELD_NUMBER: _ClassVar[int]
    index: int
    accepted: bool
    template_id: str
    reason: str
    warnings: _containers.RepeatedScalarFieldContainer[str]
    duplicate: bool
    quality: _encoder_pb2.Quality
    issue: PhotoIssue
    resembles: str
    def __init__(self, index: _Optional[int] = ..., accepted: _Optional[bool] = ..., template_id: _Optional[str] = ..., reason: _Optional[str] = ..., warnings: _Optional[_Iterable[str]] = ..., duplicate: _Optional[bool] = ..., quality: _Optional[_Union[_encoder_pb2.Quality, _Mapping]] = ..., issue: _Optional[_Union[PhotoIssue, str]] = ..., resembles: _Optional[str] = ...) -> None: ...

class EnrollResponse(_message.Message):
    __slots__ = ("subject_id", "photos", "templates", "templates_removed")
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    PHOTOS_FIELD_NUMBER: _ClassVar[int]
    TEMPLATES_FIELD_NUMBER: _ClassVar[int]
    TEMPLATES_REMOVED_FIELD_NUMBER: _ClassVar[int]
    subject_id: str
    photos: _containers.RepeatedCompositeFieldContainer[PhotoOutcome]
    templates: int
    templates_removed: int
    def __init__(self, subject_id: _Optional[str] = ..., photos: _Optional[_Iterable[_Union[PhotoOutcome, _Mapping]]] = ..., templates: _Optional[int] = ..., templates_removed: _Optional[int] = ...) -> None: ...

class Decision(_message.Message):
    __slots__ = ("score", "threshold", "estimated_far", "target_far")
    SCORE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_FAR_FIELD_NUMBER: _ClassVar[int]
    TARGET_FAR_FIELD_NUMBER: _ClassVar[int]
    score: float
    threshold: float
    estimated_far: float
    target_far: float
    def __init__(self, score: _Optional[float] = ..., threshold: _Optional[float] = ..., estimated_far: _Optional[float] = ..., target_far: _Optional[float] = ...) -> None: ...

class VerifyRequest(_message.Message):
    __slots__ = ("subject_id", "photo")
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    PHOTO_FIELD_NUMBER: _ClassVar[int]
    subject_id: str
    photo: bytes
    def __init__(self, subject_id: _Optional[str] = ..., photo: _Optional[bytes] = ...) -> None: ...

class VerifyResponse(_message.Message):
    __slots__ = ("match", "decision", "face", "quality", "quality_issue", "quality_warning", "band", "other_faces")
    MATCH_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    FACE_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    QUALITY_ISSUE_FIELD_NUMBER: _ClassVar[int]
    QUALITY_WARNING_FIELD_NUMBER: _ClassVar[int]
    BAND_FIELD_NUMBER: _ClassVar[int]
    OTHER_FACES_FIELD_NUMBER: _ClassVar[int]
    match: bool
    decision: Decision
    face: _encoder_pb2.Box
    quality: _encoder_pb2.Quality
    quality_issue: PhotoIssue
    quality_warning: str
    band: ScoreBand
    other_faces: int
    def __init__(self, match: _Optional[bool] = ..., decision: _Optional[_Union[Decision, _Mapping]] = ..., face: _Optional[_Union[_encoder_pb2.Box, _Mapping]] = ..., quality: _Optional[_Union[_encoder_pb2.Quality, _Mapping]] = ..., quality_issue: _Optional[_Union[PhotoIssue, str]] = ..., quality_warning: _Optional[str] = ..., band: _Optional[_Union[ScoreBand, str]] = ..., other_faces: _Optional[int] = ...) -> None: ...

class IdentifyRequest(_message.Message):
    __slots__ = ("photo", "candidates")
    PHOTO_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    photo: bytes
    candidates: int
    def __init__(self, photo: _Optional[bytes] = ..., candidates: _Optional[int] = ...) -> None: ...

class Candidate(_message.Message):
    __slots__ = ("subject_id", "score")
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    subject_id: str
    score: float
    def __init__(self, subject_id: _Optional[str] = ..., score: _Optional[float] = ...) -> None: ...

class IdentifyResponse(_message.Message):
    __slots__ = ("known", "subject_id", "decision", "margin", "candidates", "face", "quality", "reason", "unknown_reason", "quality_issue", "quality_warning", "band", "other_faces")
    KNOWN_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    MARGIN_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    FACE_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    UNKNOWN_REASON_FIELD_NUMBER: _ClassVar[int]
    QUALITY_ISSUE_FIELD_NUMBER: _ClassVar[int]
    QUALITY_WARNING_FIELD_NUMBER: _ClassVar[int]
    BAND_FIELD_NUMBER: _ClassVar[int]
    OTHER_FACES_FIELD_NUMBER: _ClassVar[int]
    known: bool
    subject_id: str
    decision: Decision
    margin: float
    candidates: _containers.RepeatedCompositeFieldContainer[Candidate]
    face: _encoder_pb2.Box
    quality: _encoder_pb2.Quality
    reason: str
    unknown_reason: UnknownReason
    quality_issue: PhotoIssue
    quality_warning: str
    band: ScoreBand
    other_faces: int
    def __init__(self, known: _Optional[bool] = ..., subject_id: _Optional[str] = ..., decision: _Optional[_Union[Decision, _Mapping]] = ..., margin: _Optional[float] = ..., candidates: _Optional[_Iterable[_Union[Candidate, _Mapping]]] = ..., face: _Optional[_Union[_encoder_pb2.Box, _Mapping]] = ..., quality: _Optional[_Union[_encoder_pb2.Quality, _Mapping]] = ..., reason: _Optional[str] = ..., unknown_reason: _Optional[_Union[UnknownReason, str]] = ..., quality_issue: _Optional[_Union[PhotoIssue, str]] = ..., quality_warning: _Optional[str] = ..., band: _Optional[_Union[ScoreBand, str]] = ..., other_faces: _Optional[int] = ...) -> None: ...

class ForgetRequest(_message.Message):
    __slots__ = ("subject_id",)
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    subject_id: str
    def __init__(self, subject_id: _Optional[str] = ...) -> None: ...

class ForgetResponse(_message.Message):
    __slots__ = ("subject_id", "templates_removed")
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    TEMPLATES_REMOVED_FIELD_NUMBER: _ClassVar[int]
    subject_id: str
    templates_removed: int
    def __init__(self, subject_id: _Optional[str] = ..., templates_removed: _Optional[int] = ...) -> None: ...

class GetSubjectRequest(_message.Message):
    __slots__ = ("subject_id",)
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    subject_id: str
    def __init__(self, subject_id: _Optional[str] = ...) -> None: ...

class Template(_message.Message):
    __slots__ = ("template_id", "model", "photo_sha256", "quality", "created_at")
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PHOTO_SHA256_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    template_id: str
    model: str
    photo_sha256: str
    quality: _encoder_pb2.Quality
    created_at: float
    def __init__(self, template_id: _Optional[str] = ..., model: _Optional[str] = ..., photo_sha256: _Optional[str] = ..., quality: _Optional[_Union[_encoder_pb2.Quality, _Mapping]] = ..., created_at: _Optional[float] = ...) -> None: ...

class Subject(_message.Message):
    __slots__ = ("subject_id", "display_name", "created_at", "templates", "groups", "status", "expires_at", "status_reason")
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    TEMPLATES_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    STATUS_REASON_FIELD_NUMBER: _ClassVar[int]
    subject_id: str
    display_name: str
    created_at: float
    templates: _containers.RepeatedCompositeFieldContainer[Template]
    groups: _containers.RepeatedScalarFieldContainer[str]
    status: SubjectStatus
    expires_at: float
    status_reason: str
    def __init__(self, subject_id: _Optional[str] = ..., display_name: _Optional[str] = ..., created_at: _Optional[float] = ..., templates: _Optional[_Iterable[_Union[Template, _Mapping]]] = ..., groups: _Optional[_Iterable[str]] = ..., status: _Optional[_Union[SubjectStatus, str]] = ..., expires_at: _Optional[float] = ..., status_reason: _Optional[str] = ...) -> None: ...

class UpdateSubjectRequest(_message.Message):
    __slots__ = ("subject_id", "groups", "set_groups", "status", "expires_at", "status_reason")
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    SET_GROUPS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    STATUS_REASON_FIELD_NUMBER: _ClassVar[int]
    subject_id: str
    groups: _containers.RepeatedScalarFieldContainer[str]
    set_groups: bool
    status: SubjectStatus
    expires_at: float
    status_reason: str
    def __init__(self, subject_id: _Optional[str] = ..., groups: _Optional[_Iterable[str]] = ..., set_groups: _Optional[bool] = ..., status: _Optional[_Union[SubjectStatus, str]] = ..., expires_at: _Optional[float] = ..., status_reason: _Optional[str] = ...) -> None: ...

class PassRequest(_message.Message):
    __slots__ = ("frames", "subject_id", "door", "track", "challenge", "frame_times", "allow_groups")
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    DOOR_FIELD_NUMBER: _ClassVar[int]
    TRACK_FIELD_NUMBER: _ClassVar[int]
    CHALLENGE_FIELD_NUMBER: _ClassVar[int]
    FRAME_TIMES_FIELD_NUMBER: _ClassVar[int]
    ALLOW_GROUPS_FIELD_NUMBER: _ClassVar[int]
    frames: _containers.RepeatedScalarFieldContainer[bytes]
    subject_id: str
    door: str
    track: str
    challenge: Challenge
    frame_times: _containers.RepeatedScalarFieldContainer[float]
    allow_groups: bool
    def __init__(self, frames: _Optional[_Iterable[bytes]] = ..., subject_id: _Optional[str] = ..., door: _Optional[str] = ..., track: _Optional[str] = ..., challenge: _Optional[_Union[Challenge, str]] = ..., frame_times: _Optional[_Iterable[float]] = ..., allow_groups: _Optional[bool] = ...) -> None: ...

class PassTimings(_message.Message):
    __slots__ = ("decode", "detect", "liveness", "embed", "search", "rule", "total")
    DECODE_FIELD_NUMBER: _ClassVar[int]
    DETECT_FIELD_NUMBER: _ClassVar[int]
    LIVENESS_FIELD_NUMBER: _ClassVar[int]
    EMBED_FIELD_NUMBER: _ClassVar[int]
    SEARCH_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    decode: float
    detect: float
    liveness: float
    embed: float
    search: float
    rule: float
    total: float
    def __init__(self, decode: _Optional[float] = ..., detect: _Optional[float] = ..., liveness: _Optional[float] = ..., embed: _Optional[float] = ..., search: _Optional[float] = ..., rule: _Optional[float] = ..., total: _Optional[float] = ...) -> None: ...

class PassResponse(_message.Message):
    __slots__ = ("decision", "reason", "message", "subject_id", "display_name", "band", "score", "threshold", "liveness", "liveness_score", "frame_liveness", "frame_used", "door", "fallback", "timings")
    DECISION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    BAND_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    LIVENESS_FIELD_NUMBER: _ClassVar[int]
    LIVENESS_SCORE_FIELD_NUMBER: _ClassVar[int]
    FRAME_LIVENESS_FIELD_NUMBER: _ClassVar[int]
    FRAME_USED_FIELD_NUMBER: _ClassVar[int]
    DOOR_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    decision: PassDecision
    reason: PassReason
    message: str
    subject_id: str
    display_name: str
    band: ScoreBand
    score: float
    threshold: float
    liveness: Liveness
    liveness_score: float
    frame_liveness: _containers.RepeatedScalarFieldContainer[float]
    frame_used: int
    door: str
    fallback: str
    timings: PassTimings
    def __init__(self, decision: _Optional[_Union[PassDecision, str]] = ..., reason: _Optional[_Union[PassReason, str]] = ..., message: _Optional[str] = ..., subject_id: _Optional[str] = ..., display_name: _Optional[str] = ..., band: _Optional[_Union[ScoreBand, str]] = ..., score: _Optional[float] = ..., threshold: _Optional[float] = ..., liveness: _Optional[_Union[Liveness, str]] = ..., liveness_score: _Optional[float] = ..., frame_liveness: _Optional[_Iterable[float]] = ..., frame_used: _Optional[int] = ..., door: _Optional[str] = ..., fallback: _Optional[str] = ..., timings: _Optional[_Union[PassTimings, _Mapping]] = ...) -> None: ...

class Door(_message.Message):
    __slots__ = ("name", "groups", "hours", "timezone", "fallback", "updated_at", "last_seen_at")
    NAME_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    HOURS_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_AT_FIELD_NUMBER: _ClassVar[int]
    name: str
    groups: _containers.RepeatedScalarFieldContainer[str]
    hours: str
    timezone: str
    fallback: str
    updated_at: float
    last_seen_at: float
    def __init__(self, name: _Optional[str] = ..., groups: _Optional[_Iterable[str]] = ..., hours: _Optional[str] = ..., timezone: _Optional[str] = ..., fallback: _Optional[str] = ..., updated_at: _Optional[float] = ..., last_seen_at: _Optional[float] = ...) -> None: ...

class ListSubjectsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSubjectsResponse(_message.Message):
    __slots__ = ("subjects", "next_page_token", "total")
    SUBJECTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    subjects: _containers.RepeatedCompositeFieldContainer[Subject]
    next_page_token: str
    total: int
    def __init__(self, subjects: _Optional[_Iterable[_Union[Subject, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total: _Optional[int] = ...) -> None: ...
