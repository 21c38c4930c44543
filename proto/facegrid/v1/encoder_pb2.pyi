from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EmbedRequest(_message.Message):
    __slots__ = ("photo", "model", "probe")
    PHOTO_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROBE_FIELD_NUMBER: _ClassVar[int]
    photo: bytes
    model: str
    probe: bool
    def __init__(self, photo: _Optional[bytes] = ..., model: _Optional[str] = ..., probe: _Optional[bool] = ...) -> None: ...

class Box(_message.Message):
    __slots__ = ("x", "y", "width", "height")
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    x: float
    y: float
    width: float
    height: float
    def __init__(self, x: _Optional[float] = ..., y: _Optional[float] = ..., width: _Optional[float] = ..., height: _Optional[float] = ...) -> None: ...

class Point(_message.Message):
    __slots__ = ("x", "y")
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    x: float
    y: float
    def __init__(self, x: _Optional[float] = ..., y: _Optional[float] = ...) -> None: ...

class Quality(_message.Message):
    __slots__ = ("size", "interocular", "sharpness", "yaw", "pitch", "roll", "detector_score")
    SIZE_FIELD_NUMBER: _ClassVar[int]
    INTEROCULAR_FIELD_NUMBER: _ClassVar[int]
    SHARPNESS_FIELD_NUMBER: _ClassVar[int]
    YAW_FIELD_NUMBER: _ClassVar[int]
    PITCH_FIELD_NUMBER: _ClassVar[int]
    ROLL_FIELD_NUMBER: _ClassVar[int]
    DETECTOR_SCORE_FIELD_NUMBER: _ClassVar[int]
    size: float
    interocular: float
    sharpness: float
    yaw: float
    pitch: float
    roll: float
    detector_score: float
    def __init__(self, size: _Optional[float] = ..., interocular: _Optional[float] = ..., sharpness: _Optional[float] = ..., yaw: _Optional[float] = ..., pitch: _Optional[float] = ..., roll: _Optional[float] = ..., detector_score: _Optional[float] = ...) -> None: ...

class Face(_message.Message):
    __slots__ = ("box", "landmarks", "quality", "vector", "model", "detector")
    BOX_FIELD_NUMBER: _ClassVar[int]
    LANDMARKS_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DETECTOR_FIELD_NUMBER: _ClassVar[int]
    box: Box
    landmarks: _containers.RepeatedCompositeFieldContainer[Point]
    quality: Quality
    vector: _containers.RepeatedScalarFieldContainer[float]
    model: str
    detector: str
    def __init__(self, box: _Optional[_Union[Box, _Mapping]] = ..., landmarks: _Optional[_Iterable[_Union[Point, _Mapping]]] = ..., quality: _Optional[_Union[Quality, _Mapping]] = ..., vector: _Optional[_Iterable[float]] = ..., model: _Optional[str] = ..., detector: _Optional[str] = ...) -> None: ...

class EmbedResponse(_message.Message):
    __slots__ = ("faces", "model", "detectors")
    FACES_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DETECTORS_FIELD_NUMBER: _ClassVar[int]
    faces: _containers.RepeatedCompositeFieldContainer[Face]
    model: str
    detectors: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, faces: _Optional[_Iterable[_Union[Face, _Mapping]]] = ..., model: _Optional[str] = ..., detectors: _Optional[_Iterable[str]] = ...) -> None: ...

class EmbedPhotoRequest(_message.Message):
    __slots__ = ("photo", "model")
    PHOTO_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    photo: bytes
    model: str
    def __init__(self, photo: _Optional[bytes] = ..., model: _Optional[str] = ...) -> None: ...

class EmbedPhotoResponse(_message.Message):
    __slots__ = ("vector", "model")
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    vector: _containers.RepeatedScalarFieldContainer[float]
    model: str
    def __init__(self, vector: _Optional[_Iterable[float]] = ..., model: _Optional[str] = ...) -> None: ...

class EmbedTextRequest(_message.Message):
    __slots__ = ("texts", "model")
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    texts: _containers.RepeatedScalarFieldContainer[bytes]
    model: str
    def __init__(self, texts: _Optional[_Iterable[bytes]] = ..., model: _Optional[str] = ...) -> None: ...

class EmbedAudioRequest(_message.Message):
    __slots__ = ("audio", "model")
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    audio: bytes
    model: str
    def __init__(self, audio: _Optional[bytes] = ..., model: _Optional[str] = ...) -> None: ...

class EmbedAudioResponse(_message.Message):
    __slots__ = ("vector", "model")
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    vector: _containers.RepeatedScalarFieldContainer[float]
    model: str
    def __init__(self, vector: _Optional[_Iterable[float]] = ..., model: _Optional[str] = ...) -> None: ...

class TextVector(_message.Message):
    __slots__ = ("vector", "truncated")
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    vector: _containers.RepeatedScalarFieldContainer[float]
    truncated: bool
    def __init__(self, vector: _Optional[_Iterable[float]] = ..., truncated: _Optional[bool] = ...) -> None: ...

class EmbedTextResponse(_message.Message):
    __slots__ = ("vectors", "model", "context_length")
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_LENGTH_FIELD_NUMBER: _ClassVar[int]
    vectors: _containers.RepeatedCompositeFieldContainer[TextVector]
    model: str
    context_length: int
    def __init__(self, vectors: _Optional[_Iterable[_Union[TextVector, _Mapping]]] = ..., model: _Optional[str] = ..., context_length: _Optional[int] = ...) -> None: ...

class EmbedItem(_message.Message):
    __slots__ = ("id", "model", "photo", "text", "faces", "audio")
    ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PHOTO_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    FACES_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    id: str
    model: str
    photo: bytes
    text: bytes
    faces: bytes
    audio: bytes
    def __init__(self, id: _Optional[str] = ..., model: _Optional[str] = ..., photo: _Optional[bytes] = ..., text: _Optional[bytes] = ..., faces: _Optional[bytes] = ..., audio: _Optional[bytes] = ...) -> None: ...

class EmbedResult(_message.Message):
    __slots__ = ("id", "vector", "truncated", "faces", "model", "error_code", "error")
    ID_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    FACES_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    id: str
    vector: _containers.RepeatedScalarFieldContainer[float]
    truncated: bool
    faces: _containers.RepeatedCompositeFieldContainer[Face]
    model: str
    error_code: int
    error: str
    def __init__(self, id: _Optional[str] = ..., vector: _Optional[_Iterable[float]] = ..., truncated: _Optional[bool] = ..., faces: _Optional[_Iterable[_Union[Face, _Mapping]]] = ..., model: _Optional[str] = ..., error_code: _Optional[int] = ..., error: _Optional[str] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("name", "modality", "dim", "metric", "is_default", "modalities", "source")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MODALITY_FIELD_NUMBER: _ClassVar[int]
    DIM_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    MODALITIES_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    name: str
    modality: str
    dim: int
    metric: str
    is_default: bool
    modalities: _containers.RepeatedScalarFieldContainer[str]
    source: str
    def __init__(self, name: _Optional[str] = ..., modality: _Optional[str] = ..., dim: _Optional[int] = ..., metric: _Optional[str] = ..., is_default: _Optional[bool] = ..., modalities: _Optional[_Iterable[str]] = ..., source: _Optional[str] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models", "broken")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    BROKEN_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    broken: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ..., broken: _Optional[_Iterable[str]] = ...) -> None: ...
