from facegrid.v1 import encoder_pb2 as _encoder_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SearchPhotosRequest(_message.Message):
    __slots__ = ("collection", "text", "photo", "vector", "k", "model")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    PHOTO_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    collection: str
    text: str
    photo: bytes
    vector: Vector
    k: int
    model: str
    def __init__(self, collection: _Optional[str] = ..., text: _Optional[str] = ..., photo: _Optional[bytes] = ..., vector: _Optional[_Union[Vector, _Mapping]] = ..., k: _Optional[int] = ..., model: _Optional[str] = ...) -> None: ...

class PhotoHit(_message.Message):
    __slots__ = ("score", "photo_sha256", "paths")
    SCORE_FIELD_NUMBER: _ClassVar[int]
    PHOTO_SHA256_FIELD_NUMBER: _ClassVar[int]
    PATHS_FIELD_NUMBER: _ClassVar[int]
    score: float
    photo_sha256: str
    paths: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, score: _Optional[float] = ..., photo_sha256: _Optional[str] = ..., paths: _Optional[_Iterable[str]] = ...) -> None: ...

class SearchPhotosResponse(_message.Message):
    __slots__ = ("hits", "model", "text_truncated")
    HITS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TEXT_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[PhotoHit]
    model: str
    text_truncated: bool
    def __init__(self, hits: _Optional[_Iterable[_Union[PhotoHit, _Mapping]]] = ..., model: _Optional[str] = ..., text_truncated: _Optional[bool] = ...) -> None: ...

class SimilarPhotosRequest(_message.Message):
    __slots__ = ("collection", "threshold", "min_size")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    MIN_SIZE_FIELD_NUMBER: _ClassVar[int]
    collection: str
    threshold: float
    min_size: int
    def __init__(self, collection: _Optional[str] = ..., threshold: _Optional[float] = ..., min_size: _Optional[int] = ...) -> None: ...

class PhotoGroup(_message.Message):
    __slots__ = ("photos",)
    PHOTOS_FIELD_NUMBER: _ClassVar[int]
    photos: _containers.RepeatedCompositeFieldContainer[PhotoHit]
    def __init__(self, photos: _Optional[_Iterable[_Union[PhotoHit, _Mapping]]] = ...) -> None: ...

class SimilarPhotosResponse(_message.Message):
    __slots__ = ("groups", "threshold", "threshold_source", "photos")
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_SOURCE_FIELD_NUMBER: _ClassVar[int]
    PHOTOS_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[PhotoGroup]
    threshold: float
    threshold_source: str
    photos: int
    def __init__(self, groups: _Optional[_Iterable[_Union[PhotoGroup, _Mapping]]] = ..., threshold: _Optional[float] = ..., threshold_source: _Optional[str] = ..., photos: _Optional[int] = ...) -> None: ...

class SetImageModelRequest(_message.Message):
    __slots__ = ("collection", "image_model")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    IMAGE_MODEL_FIELD_NUMBER: _ClassVar[int]
    collection: str
    image_model: str
    def __init__(self, collection: _Optional[str] = ..., image_model: _Optional[str] = ...) -> None: ...

class KMeansRequest(_message.Message):
    __slots__ = ("collection", "k", "iterations", "photos")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    PHOTOS_FIELD_NUMBER: _ClassVar[int]
    collection: str
    k: int
    iterations: int
    photos: bool
    def __init__(self, collection: _Optional[str] = ..., k: _Optional[int] = ..., iterations: _Optional[int] = ..., photos: _Optional[bool] = ...) -> None: ...

class KMeansResponse(_message.Message):
    __slots__ = ("k", "ids", "clusters", "sizes", "photos")
    K_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    CLUSTERS_FIELD_NUMBER: _ClassVar[int]
    SIZES_FIELD_NUMBER: _ClassVar[int]
    PHOTOS_FIELD_NUMBER: _ClassVar[int]
    k: int
    ids: _containers.RepeatedScalarFieldContainer[int]
    clusters: _containers.RepeatedScalarFieldContainer[int]
    sizes: _containers.RepeatedScalarFieldContainer[int]
    photos: _containers.RepeatedCompositeFieldContainer[PhotoRef]
    def __init__(self, k: _Optional[int] = ..., ids: _Optional[_Iterable[int]] = ..., clusters: _Optional[_Iterable[int]] = ..., sizes: _Optional[_Iterable[int]] = ..., photos: _Optional[_Iterable[_Union[PhotoRef, _Mapping]]] = ...) -> None: ...

class PhotoRef(_message.Message):
    __slots__ = ("photo_sha256", "paths")
    PHOTO_SHA256_FIELD_NUMBER: _ClassVar[int]
    PATHS_FIELD_NUMBER: _ClassVar[int]
    photo_sha256: str
    paths: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, photo_sha256: _Optional[str] = ..., paths: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateCollectionRequest(_message.Message):
    __slots__ = ("collection", "dim")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    DIM_FIELD_NUMBER: _ClassVar[int]
    collection: str
    dim: int
    def __init__(self, collection: _Optional[str] = ..., dim: _Optional[int] = ...) -> None: ...

class AddVectorsRequest(_message.Message):
    __slots__ = ("collection", "ids", "vectors")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    collection: str
    ids: _containers.RepeatedScalarFieldContainer[int]
    vectors: _containers.RepeatedCompositeFieldContainer[Vector]
    def __init__(self, collection: _Optional[str] = ..., ids: _Optional[_Iterable[int]] = ..., vectors: _Optional[_Iterable[_Union[Vector, _Mapping]]] = ...) -> None: ...

class RemoveVectorsRequest(_message.Message):
    __slots__ = ("collection", "ids")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    collection: str
    ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, collection: _Optional[str] = ..., ids: _Optional[_Iterable[int]] = ...) -> None: ...

class CorrectRequest(_message.Message):
    __slots__ = ("collection", "merge", "split", "name")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    MERGE_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    collection: str
    merge: Merge
    split: Split
    name: Name
    def __init__(self, collection: _Optional[str] = ..., merge: _Optional[_Union[Merge, _Mapping]] = ..., split: _Optional[_Union[Split, _Mapping]] = ..., name: _Optional[_Union[Name, _Mapping]] = ...) -> None: ...

class Merge(_message.Message):
    __slots__ = ("group_id", "other_group_id")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    OTHER_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    group_id: int
    other_group_id: int
    def __init__(self, group_id: _Optional[int] = ..., other_group_id: _Optional[int] = ...) -> None: ...

class Split(_message.Message):
    __slots__ = ("face_id",)
    FACE_ID_FIELD_NUMBER: _ClassVar[int]
    face_id: str
    def __init__(self, face_id: _Optional[str] = ...) -> None: ...

class Name(_message.Message):
    __slots__ = ("group_id", "subject_id")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    group_id: int
    subject_id: str
    def __init__(self, group_id: _Optional[int] = ..., subject_id: _Optional[str] = ...) -> None: ...

class UndoRequest(_message.Message):
    __slots__ = ("collection",)
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    collection: str
    def __init__(self, collection: _Optional[str] = ...) -> None: ...

class ClusterRequest(_message.Message):
    __slots__ = ("collection", "min_size", "link_far")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    MIN_SIZE_FIELD_NUMBER: _ClassVar[int]
    LINK_FAR_FIELD_NUMBER: _ClassVar[int]
    collection: str
    min_size: int
    link_far: float
    def __init__(self, collection: _Optional[str] = ..., min_size: _Optional[int] = ..., link_far: _Optional[float] = ...) -> None: ...

class GroupsRequest(_message.Message):
    __slots__ = ("collection",)
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    collection: str
    def __init__(self, collection: _Optional[str] = ...) -> None: ...

class GroupFace(_message.Message):
    __slots__ = ("face_id", "photo_sha256", "paths", "box")
    FACE_ID_FIELD_NUMBER: _ClassVar[int]
    PHOTO_SHA256_FIELD_NUMBER: _ClassVar[int]
    PATHS_FIELD_NUMBER: _ClassVar[int]
    BOX_FIELD_NUMBER: _ClassVar[int]
    face_id: str
    photo_sha256: str
    paths: _containers.RepeatedScalarFieldContainer[str]
    box: _encoder_pb2.Box
    def __init__(self, face_id: _Optional[str] = ..., photo_sha256: _Optional[str] = ..., paths: _Optional[_Iterable[str]] = ..., box: _Optional[_Union[_encoder_pb2.Box, _Mapping]] = ...) -> None: ...

class Group(_message.Message):
    __slots__ = ("group_id", "faces", "name")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    FACES_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    group_id: int
    faces: _containers.RepeatedCompositeFieldContainer[GroupFace]
    name: str
    def __init__(self, group_id: _Optional[int] = ..., faces: _Optional[_Iterable[_Union[GroupFace, _Mapping]]] = ..., name: _Optional[str] = ...) -> None: ...

class GroupsResponse(_message.Message):
    __slots__ = ("groups", "unassigned", "threshold", "naming")
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    UNASSIGNED_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    NAMING_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[Group]
    unassigned: int
    threshold: float
    naming: Naming
    def __init__(self, groups: _Optional[_Iterable[_Union[Group, _Mapping]]] = ..., unassigned: _Optional[int] = ..., threshold: _Optional[float] = ..., naming: _Optional[_Union[Naming, _Mapping]] = ...) -> None: ...

class Naming(_message.Message):
    __slots__ = ("subject_id", "created", "faces")
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    FACES_FIELD_NUMBER: _ClassVar[int]
    subject_id: str
    created: bool
    faces: _containers.RepeatedCompositeFieldContainer[NamedFace]
    def __init__(self, subject_id: _Optional[str] = ..., created: _Optional[bool] = ..., faces: _Optional[_Iterable[_Union[NamedFace, _Mapping]]] = ...) -> None: ...

class NamedFace(_message.Message):
    __slots__ = ("face_id", "accepted", "template_id", "reason", "warnings")
    FACE_ID_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    face_id: str
    accepted: bool
    template_id: str
    reason: str
    warnings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, face_id: _Optional[str] = ..., accepted: _Optional[bool] = ..., template_id: _Optional[str] = ..., reason: _Optional[str] = ..., warnings: _Optional[_Iterable[str]] = ...) -> None: ...

class IndexPhotoRequest(_message.Message):
    __slots__ = ("collection", "path", "photo", "photo_sha256", "image_model")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    PHOTO_FIELD_NUMBER: _ClassVar[int]
    PHOTO_SHA256_FIELD_NUMBER: _ClassVar[int]
    IMAGE_MODEL_FIELD_NUMBER: _ClassVar[int]
    collection: str
    path: str
    photo: bytes
    photo_sha256: str
    image_model: str
    def __init__(self, collection: _Optional[str] = ..., path: _Optional[str] = ..., photo: _Optional[bytes] = ..., photo_sha256: _Optional[str] = ..., image_model: _Optional[str] = ...) -> None: ...

class IndexPhotoResult(_message.Message):
    __slots__ = ("path", "photo_sha256", "already_indexed", "faces", "error", "error_code")
    PATH_FIELD_NUMBER: _ClassVar[int]
    PHOTO_SHA256_FIELD_NUMBER: _ClassVar[int]
    ALREADY_INDEXED_FIELD_NUMBER: _ClassVar[int]
    FACES_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    path: str
    photo_sha256: str
    already_indexed: bool
    faces: int
    error: str
    error_code: str
    def __init__(self, path: _Optional[str] = ..., photo_sha256: _Optional[str] = ..., already_indexed: _Optional[bool] = ..., faces: _Optional[int] = ..., error: _Optional[str] = ..., error_code: _Optional[str] = ...) -> None: ...

class KnownPhotosRequest(_message.Message):
    __slots__ = ("collection", "photo_sha256")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    PHOTO_SHA256_FIELD_NUMBER: _ClassVar[int]
    collection: str
    photo_sha256: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, collection: _Optional[str] = ..., photo_sha256: _Optional[_Iterable[str]] = ...) -> None: ...

class KnownPhotosResponse(_message.Message):
    __slots__ = ("photo_sha256",)
    PHOTO_SHA256_FIELD_NUMBER: _ClassVar[int]
    photo_sha256: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, photo_sha256: _Optional[_Iterable[str]] = ...) -> None: ...

class Vector(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, values: _Optional[_Iterable[float]] = ...) -> None: ...

class SearchRequest(_message.Message):
    __slots__ = ("collection", "photo", "vector", "k", "model")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    PHOTO_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    collection: str
    photo: bytes
    vector: Vector
    k: int
    model: str
    def __init__(self, collection: _Optional[str] = ..., photo: _Optional[bytes] = ..., vector: _Optional[_Union[Vector, _Mapping]] = ..., k: _Optional[int] = ..., model: _Optional[str] = ...) -> None: ...

class Hit(_message.Message):
    __slots__ = ("score", "face_id", "photo_sha256", "paths", "box", "vector_id")
    SCORE_FIELD_NUMBER: _ClassVar[int]
    FACE_ID_FIELD_NUMBER: _ClassVar[int]
    PHOTO_SHA256_FIELD_NUMBER: _ClassVar[int]
    PATHS_FIELD_NUMBER: _ClassVar[int]
    BOX_FIELD_NUMBER: _ClassVar[int]
    VECTOR_ID_FIELD_NUMBER: _ClassVar[int]
    score: float
    face_id: str
    photo_sha256: str
    paths: _containers.RepeatedScalarFieldContainer[str]
    box: _encoder_pb2.Box
    vector_id: int
    def __init__(self, score: _Optional[float] = ..., face_id: _Optional[str] = ..., photo_sha256: _Optional[str] = ..., paths: _Optional[_Iterable[str]] = ..., box: _Optional[_Union[_encoder_pb2.Box, _Mapping]] = ..., vector_id: _Optional[int] = ...) -> None: ...

class QueryHits(_message.Message):
    __slots__ = ("face", "hits")
    FACE_FIELD_NUMBER: _ClassVar[int]
    HITS_FIELD_NUMBER: _ClassVar[int]
    face: _encoder_pb2.Box
    hits: _containers.RepeatedCompositeFieldContainer[Hit]
    def __init__(self, face: _Optional[_Union[_encoder_pb2.Box, _Mapping]] = ..., hits: _Optional[_Iterable[_Union[Hit, _Mapping]]] = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("queries",)
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    queries: _containers.RepeatedCompositeFieldContainer[QueryHits]
    def __init__(self, queries: _Optional[_Iterable[_Union[QueryHits, _Mapping]]] = ...) -> None: ...

class StatsRequest(_message.Message):
    __slots__ = ("collection",)
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    collection: str
    def __init__(self, collection: _Optional[str] = ...) -> None: ...

class StatsResponse(_message.Message):
    __slots__ = ("collection", "model", "dim", "photos", "faces", "vectors", "image_model", "image_dim", "photo_vectors", "reembed", "index")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DIM_FIELD_NUMBER: _ClassVar[int]
    PHOTOS_FIELD_NUMBER: _ClassVar[int]
    FACES_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    IMAGE_MODEL_FIELD_NUMBER: _ClassVar[int]
    IMAGE_DIM_FIELD_NUMBER: _ClassVar[int]
    PHOTO_VECTORS_FIELD_NUMBER: _ClassVar[int]
    REEMBED_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    collection: str
    model: str
    dim: int
    photos: int
    faces: int
    vectors: int
    image_model: str
    image_dim: int
    photo_vectors: int
    reembed: Reembed
    index: str
    def __init__(self, collection: _Optional[str] = ..., model: _Optional[str] = ..., dim: _Optional[int] = ..., photos: _Optional[int] = ..., faces: _Optional[int] = ..., vectors: _Optional[int] = ..., image_model: _Optional[str] = ..., image_dim: _Optional[int] = ..., photo_vectors: _Optional[int] = ..., reembed: _Optional[_Union[Reembed, _Mapping]] = ..., index: _Optional[str] = ...) -> None: ...

class Reembed(_message.Message):
    __slots__ = ("state", "done", "total", "missing")
    STATE_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    state: str
    done: int
    total: int
    missing: int
    def __init__(self, state: _Optional[str] = ..., done: _Optional[int] = ..., total: _Optional[int] = ..., missing: _Optional[int] = ...) -> None: ...
