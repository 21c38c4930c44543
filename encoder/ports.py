"""What the server's domain takes from the encoder: the seams between the use cases and wherever the models run.

Each protocol has two implementations: the models of this process (encoder/pipeline.py's FacePipeline,
server/domain/pipelines.py's Pipelines, encoder/towers' TowerModel and ModelRegistry, encoder/worker_pools.py's
BulkWorkers) and, in the index role, the encoder servers (server/remote/models.py, server/remote/bulk.py). The domain
is written against these, so its code is the same in every role. Plain protocols, no model code (as liveness_port.py).
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import TYPE_CHECKING, Protocol, Sequence

import numpy as np

if TYPE_CHECKING:
    from .detect import Detector
    from .image import DecodeLimits
    from .pipeline import Face, FoundFaces
    from .towers.model import Texts
    from .towers.registry import ModelEntry


class FaceModelInfo(Protocol):
    """A face model as the domain sees it: its name and vector length."""

    @property
    def name(self) -> str:
        """The model's name, as ListModels shows it."""

    @property
    def dim(self) -> int:
        """The length of its vectors."""

    def close(self) -> None:
        """Stop its batcher, if it has one here (at shutdown)."""


class FaceEncoder(Protocol):
    """Photo bytes to faces with one face model: decode, detect, align, embed."""

    @property
    def model(self) -> FaceModelInfo:
        """The face model it embeds with."""

    @property
    def detector(self) -> Detector | None:
        """The detector it finds faces with (None where detection runs elsewhere: the encoder servers)."""

    def faces(self, data: bytes) -> list[Face]:
        """Every face in a photo's bytes (an empty list when there is none)."""

    def find_faces(self, data: bytes, detector: Detector | None = None) -> FoundFaces:
        """A photo's faces found and measured, so that only the one worth it is embedded (`embed_one`)."""

    def embed_one(self, found: FoundFaces, index: int) -> Face:
        """The vector of one found face."""


class FrameEncoder(FaceEncoder, Protocol):
    """A FaceEncoder whose models run in this process: a door's Pass decodes, detects and embeds its frames apart
    (to time each step, and to hand decoded frames to the liveness checker)."""

    limits: DecodeLimits

    def find_faces_in_image(self, image: np.ndarray, detector: Detector | None = None) -> FoundFaces:
        """`find_faces` of an image already decoded (RGB uint8)."""

    def embed_some(self, faces: Sequence[tuple[FoundFaces, int]]) -> list[Face]:
        """The vectors of several found faces, in one run of the model."""


class FaceEncoders(Protocol):
    """FaceEncoders by face model name: the server's default one, others on first use."""

    @property
    def default(self) -> FaceEncoder:
        """The encoder of the server's default face model."""

    def get(self, model: str = "") -> FaceEncoder:
        """The encoder of a face model (the default one for ""); UnknownModel when none serves it."""

    def close(self) -> None:
        """Stop every model's batcher (at shutdown, after the last call)."""


class TowerEncoder(Protocol):
    """A model with towers (image, text, audio) into one space: whole photos and words to vectors."""

    name: str
    dim: int
    modalities: tuple[str, ...]

    def require(self, modality: str) -> None:
        """Raise MissingModality unless the model has this tower."""

    def embed_images(self, images: list[np.ndarray]) -> np.ndarray:
        """(n, dim) vectors of decoded RGB photos."""

    def embed_texts(self, texts: list[str]) -> Texts:
        """Vectors of texts, each marked when the tokenizer cut it."""


class TowerEncoders(Protocol):
    """The server's tower models by name."""

    def tower_model(self, name: str) -> TowerEncoder:
        """A tower model by name (UnknownModel when there is none)."""

    def names(self) -> list[str]:
        """The tower models' names."""

    def entries(self) -> list[ModelEntry]:
        """Every model as listed (ListModels)."""


class BulkEncoder(Protocol):
    """Bulk indexing's embedding: many photos at once, off the serving threads (worker processes, or encoder servers)."""

    def embed_photos(self, model: str, photos: list[bytes], image_model: str = "") -> Future:
        """A future of each photo's PhotoEmbedding (faces, and a whole-photo vector with `image_model`) or its error,
        in order; a photo's failure is that photo's alone."""

    def photo_vectors(self, face_model: str, image_model: str, photos: list[bytes]) -> list[np.ndarray | Exception]:
        """Whole-photo vectors alone (photos indexed before their collection had an image model), or each one's error."""

    def close(self) -> None:
        """Stop taking work."""

