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

class UnknownReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    UNKNOWN_REASON_UNSPECIFIED: _ClassVar[UnknownReason]
    NO_SUBJECTS: _ClassVar[UnknownReason]
    BELOW_THRESHOLD: _ClassVar[UnknownReason]
    TOO_CLOSE_TO_RUNNER_UP: _ClassVar[UnknownReason]
    NOT_ENROLLED: _ClassVar[UnknownReason]
PHOTO_ISSUE_UNSPECIFIED: PhotoIssue
NO_FACE: PhotoIssue
SEVERAL_FACES: PhotoIssue
FACE_TOO_SMALL: PhotoIssue
BLURRED: PhotoIssue
TURNED_AWAY: PhotoIssue
UNCLEAR: PhotoIssue
UNREADABLE: PhotoIssue
UNKNOWN_REASON_UNSPECIFIED: UnknownReason
NO_SUBJECTS: UnknownReason
BELOW_THRESHOLD: UnknownReason
TOO_CLOSE_TO_RUNNER_UP: UnknownReason
NOT_ENROLLED: UnknownReason

class EnrollRequest(_message.Message):
    __slots__ = ("subject_id", "photos", "display_name")
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    PHOTOS_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    subject_id: str
    photos: _containers.RepeatedScalarFieldContainer[bytes]
    display_name: str
    def __init__(self, subject_id: _Optional[str] = ..., photos: _Optional[_Iterable[bytes]] = ..., display_name: _Optional[str] = ...) -> None: ...

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
    __slots__ = ("index", "accepted", "template_id", "reason", "warnings", "duplicate", "quality", "issue")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    ISSUE_FIELD_NUMBER: _ClassVar[int]
    index: int
    accepted: bool
    template_id: str
    reason: str
    warnings: _containers.RepeatedScalarFieldContainer[str]
    duplicate: bool
    quality: _encoder_pb2.Quality
    issue: PhotoIssue
    def __init__(self, index: _Optional[int] = ..., accepted: _Optional[bool] = ..., template_id: _Optional[str] = ..., reason: _Optional[str] = ..., warnings: _Optional[_Iterable[str]] = ..., duplicate: _Optional[bool] = ..., quality: _Optional[_Union[_encoder_pb2.Quality, _Mapping]] = ..., issue: _Optional[_Union[PhotoIssue, str]] = ...) -> None: ...

class EnrollResponse(_message.Message):
    __slots__ = ("subject_id", "photos", "templates")
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    PHOTOS_FIELD_NUMBER: _ClassVar[int]
    TEMPLATES_FIELD_NUMBER: _ClassVar[int]
    subject_id: str
    photos: _containers.RepeatedCompositeFieldContainer[PhotoOutcome]
    templates: int
    def __init__(self, subject_id: _Optional[str] = ..., photos: _Optional[_Iterable[_Union[PhotoOutcome, _Mapping]]] = ..., templates: _Optional[int] = ...) -> None: ...

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
    __slots__ = ("match", "decision", "face", "quality", "quality_issue", "quality_warning")
    MATCH_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    FACE_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    QUALITY_ISSUE_FIELD_NUMBER: _ClassVar[int]
    QUALITY_WARNING_FIELD_NUMBER: _ClassVar[int]
    match: bool
    decision: Decision
    face: _encoder_pb2.Box
    quality: _encoder_pb2.Quality
    quality_issue: PhotoIssue
    quality_warning: str
    def __init__(self, match: _Optional[bool] = ..., decision: _Optional[_Union[Decision, _Mapping]] = ..., face: _Optional[_Union[_encoder_pb2.Box, _Mapping]] = ..., quality: _Optional[_Union[_encoder_pb2.Quality, _Mapping]] = ..., quality_issue: _Optional[_Union[PhotoIssue, str]] = ..., quality_warning: _Optional[str] = ...) -> None: ...

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
    __slots__ = ("known", "subject_id", "decision", "margin", "candidates", "face", "quality", "reason", "unknown_reason", "quality_issue", "quality_warning")
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
    def __init__(self, known: _Optional[bool] = ..., subject_id: _Optional[str] = ..., decision: _Optional[_Union[Decision, _Mapping]] = ..., margin: _Optional[float] = ..., candidates: _Optional[_Iterable[_Union[Candidate, _Mapping]]] = ..., face: _Optional[_Union[_encoder_pb2.Box, _Mapping]] = ..., quality: _Optional[_Union[_encoder_pb2.Quality, _Mapping]] = ..., reason: _Optional[str] = ..., unknown_reason: _Optional[_Union[UnknownReason, str]] = ..., quality_issue: _Optional[_Union[PhotoIssue, str]] = ..., quality_warning: _Optional[str] = ...) -> None: ...

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
    __slots__ = ("subject_id", "display_name", "created_at", "templates")
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    TEMPLATES_FIELD_NUMBER: _ClassVar[int]
    subject_id: str
    display_name: str
    created_at: float
    templates: _containers.RepeatedCompositeFieldContainer[Template]
    def __init__(self, subject_id: _Optional[str] = ..., display_name: _Optional[str] = ..., created_at: _Optional[float] = ..., templates: _Optional[_Iterable[_Union[Template, _Mapping]]] = ...) -> None: ...

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
