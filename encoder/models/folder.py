"""Face models from model folders (what `facegrid train` exports): a network over aligned chips, or a head
over a shipped model's vectors. Both are FaceModels like the shipped ones: the gate, the pipelines, the
evaluation workers and the batcher use them unchanged.

- `FolderFaceModel`: chips cut by align.py in the card's geometry and size (ArcFace template or dlib's
  chipper), scaled to (rgb/255 - mean)/std, run on ONNX Runtime (encoder/runtime sessions: the settings'
  device and threads), batched per FaceModel.use_batching.
- `HeadFaceModel`: the base shipped model's chips and unit vectors (its mirroring and batching kept), then
  the head's ONNX graph, then L2-normalised again.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..align import DlibChipper, arcface_chip
from ..catalog import model_names
from ..detect import Detection
from ..errors import BadModelFolder, MissingModality, UnknownModel
from ..runtime import EncoderSettings
from ..towers.card import CARD_FILE, ModelCard, TowerCard, read_card
from ..towers.model import OnnxTower
from ..towers.registry import model_folders
from .base import FaceModel, l2_normalise

DLIB_PADDING = 0.25  # dlib's own chips (DlibResNet): the face with a quarter of its size around it


def find_face_card(name: str, models_dir: Path) -> ModelCard:
    """The card of the folder face model `name`: BadModelFolder when its folder is broken, UnknownModel when no
    folder holds it, MissingModality when the folder has no face tower."""
    models_dir = Path(models_dir).expanduser()
    candidate = models_dir / name
    card = read_card(candidate) if (candidate / CARD_FILE).is_file() else None  # a broken folder of that name says why
    if card is None or card.name != name:
        card = _card_named(name, models_dir)
    if "face" not in card.towers:
        raise MissingModality(f"model {name!r} ({card.folder}) has no face tower; it has: {', '.join(card.modalities)}")
    return card


def _card_named(name: str, models_dir: Path) -> ModelCard:
    """Whichever readable folder's card gives this name (folders may be named apart from their models)."""
    faces, others = [], []
    for folder in model_folders(models_dir):
        try:
            card = read_card(folder)
        except BadModelFolder:
            continue
        if card.name == name:
            return card
        (faces if "face" in card.towers else others).append(card.name)
    known = ", ".join(model_names() + sorted(faces))
    without = f"; folder models without a face tower: {', '.join(sorted(others))}" if others else ""
    raise UnknownModel(f"unknown face model {name!r}: not shipped and no folder under {models_dir} holds it; "
                       f"available: {known}{without}")


def folder_digest(card: ModelCard) -> str:
    """sha256 of the card and the face tower's ONNX graph: a retrained model under the same name differs."""
    digest = hashlib.sha256()
    for path in (card.folder / CARD_FILE, card.towers["face"].onnx):
        digest.update(path.read_bytes())
    return digest.hexdigest()


class FolderFaceModel(FaceModel):
    """A trained face network from a folder: chips in the card's geometry, its ONNX graph on ONNX Runtime."""

    def __init__(self, card: ModelCard, mirror: bool = False, settings: EncoderSettings | None = None) -> None:
        super().__init__(mirror=mirror)
        tower = _face_tower(card, head=False)
        face = tower.face
        self.name, self.dim, self.folder = card.name, card.dim, card.folder
        self.input_size = (face.size, face.size)
        self.geometry = face.geometry
        self._tower = OnnxTower(card.name, tower, card.dim, settings or EncoderSettings())
        _check_input(self._tower, tower, (3, face.size, face.size))
        self._chipper = DlibChipper(size=face.size, padding=DLIB_PADDING) if face.geometry == "dlib" else None
        # (rgb/255 - mean)/std as one multiply-add per value
        self._scale = (1.0 / (255.0 * np.asarray(face.std, np.float32))).reshape(1, 3, 1, 1)
        self._shift = (np.asarray(face.mean, np.float32) / np.asarray(face.std, np.float32)).reshape(1, 3, 1, 1)

    @property
    def session(self):
        """The session that runs the chips."""
        return self._tower.session

    def chip(self, image: np.ndarray, detection: Detection) -> np.ndarray:
        """A (size, size, 3) uint8 RGB chip in the card's geometry."""
        if self._chipper is not None:
            return self._chipper.chip(image, detection)
        return arcface_chip(image, detection.landmarks, self.input_size[0])

    def prepare(self, chips: np.ndarray) -> np.ndarray:
        """The graph's input for (n, size, size, 3) uint8 chips: (n, 3, size, size) float32, normalised."""
        pixels = np.asarray(chips, np.float32).transpose(0, 3, 1, 2)
        return np.ascontiguousarray(pixels * self._scale - self._shift, dtype=np.float32)

    def _embed_raw(self, chips: np.ndarray) -> np.ndarray:
        return self._tower.run(self.prepare(chips))

    def describe(self) -> dict:
        """As FaceModel.describe, plus the folder and chip geometry."""
        return {**super().describe(), "folder": str(self.folder), "geometry": self.geometry}


class HeadFaceModel(FaceModel):
    """A trained head over a shipped face model: the base's chips and unit vectors, then the head, normalised."""

    def __init__(self, card: ModelCard, base: FaceModel, settings: EncoderSettings | None = None) -> None:
        super().__init__(mirror=False)  # mirroring is the base's: the head sees its averaged vectors
        tower = _face_tower(card, head=True)
        if tower.face.base != base.name or base.dim != tower.face.base_dim:
            raise BadModelFolder(f"{card.folder / CARD_FILE}: the head is over {tower.face.base} "
                                 f"({tower.face.base_dim}-d), given {base.name} ({base.dim}-d)")
        self.name, self.dim, self.folder = card.name, card.dim, card.folder
        self.base = base
        self.input_size = base.input_size
        self._head = OnnxTower(card.name, tower, card.dim, settings or EncoderSettings())
        _check_input(self._head, tower, (base.dim,))

    @property
    def parts(self) -> list[FaceModel]:
        """The base's ONNX Runtime parts (warm-up runs these; the head is a few matrix products)."""
        return list(getattr(self.base, "parts", None) or [self.base])

    def sessions(self) -> dict:
        """The base's sessions and the head's."""
        return {**super().sessions(), self.name: self._head.session}

    @property
    def mirror_parts(self) -> dict[str, bool]:
        """Whether each base part mirrors, by part name (shown by describe())."""
        return {p.name: p.mirror for p in self.parts}

    def chip(self, image: np.ndarray, detection: Detection) -> Any:
        """The base model's chip(s)."""
        return self.base.chip(image, detection)

    def embed_later(self, chips: Sequence[Any]) -> Callable[[], np.ndarray]:
        """The base's vectors (queued now where it batches), then the head and unit length."""
        if len(chips) == 0:
            return lambda: np.zeros((0, self.dim), dtype=np.float32)
        base = self.base.embed_later(chips)
        return lambda: self.apply_head(base())

    def apply_head(self, vectors: np.ndarray) -> np.ndarray:
        """Unit vectors of the head over the base's unit vectors (n, base dim)."""
        return l2_normalise(self._head.run(np.ascontiguousarray(vectors, dtype=np.float32)))

    def use_batching(self, settings: EncoderSettings, name: str | None = None) -> None:
        """Batchers in front of the base's parts (named `<head>/<base>`); the head itself runs per call: it costs
        microseconds against the base's milliseconds, so gathering callers for it would only add waiting."""
        self.base.use_batching(settings, f"{name or self.name}/{self.base.name}")

    def close(self) -> None:
        """Stop the base's batchers."""
        self.base.close()

    def _embed_raw(self, chips: np.ndarray) -> np.ndarray:  # pragma: no cover - embed_later is overridden
        raise NotImplementedError

    def describe(self) -> dict:
        """As FaceModel.describe, plus the folder, the base and its mirroring."""
        return {**super().describe(), "folder": str(self.folder), "base": self.base.name, "mirror": self.mirror_parts}


def _face_tower(card: ModelCard, head: bool) -> TowerCard:
    tower = card.towers.get("face")
    if tower is None or tower.face is None:
        raise MissingModality(f"model {card.name!r} ({card.folder}) has no face tower; it has: {', '.join(card.modalities)}")
    if tower.face.is_head != head:
        raise BadModelFolder(f"{card.folder / CARD_FILE}: the face tower is {'a head' if tower.face.is_head else 'a network over chips'}")
    return tower


def _check_input(tower: OnnxTower, card: TowerCard, shape: tuple[int, ...]) -> None:
    """The graph's input must take what the card says it is fed (float32, (n, *shape); named dims are free)."""
    given = tower.session.get_inputs()[0]
    if given.type != "tensor(float)":
        raise BadModelFolder(f"{card.onnx}: input {given.name!r} is {given.type}, expected float32")
    dims = list(given.shape or [])
    if len(dims) != 1 + len(shape) or any(isinstance(d, int) and d != want for d, want in zip(dims[1:], shape)):
        raise BadModelFolder(f"{card.onnx}: input {given.name!r} has shape {dims}, the card feeds (n, {', '.join(map(str, shape))})")
