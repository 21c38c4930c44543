"""The liveness model card: `liveness.json` in a folder of the models directory.

A liveness folder is not an embedding model: the tower registry skips any folder holding this card
(encoder/towers/registry.py), and `load_checker` looks for it. What `facegrid models import minifasnet` writes:

    {"format": "facegrid-liveness/1", "kind": "liveness", "name": "minifasnet", "family": "minifasnet",
     "licence": "Apache-2.0", "source": "https://github.com/...",
     "input": "BGR uint8 values as float32 (not divided by 255), (n, 3, size, size)",
     "live_class": 1, "fusion": "mean of the models' softmax",
     "models": [{"arch": "MiniFASNetV2", "onnx": "MiniFASNetV2.onnx", "scale": 2.7, "size": 80,
                 "checkpoint": "2.7_80x80_MiniFASNetV2.pth", "sha256": "..."}, ...]}

Every problem is a BadModelFolder naming the file at fault.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import BadModelFolder

CARD_FILE = "liveness.json"
CARD_FORMAT = "facegrid-liveness/1"
INPUT = "BGR uint8 values as float32 (not divided by 255), (n, 3, size, size): the face box scaled about its centre, shifted inside the image"


@dataclass(frozen=True)
class PatchModel:
    """One network of the ensemble: its graph and the patch it reads (the face box times `scale`, resized to size x size)."""

    arch: str
    onnx: Path  # relative to the folder
    scale: float
    size: int
    checkpoint: str = ""
    sha256: str = ""


@dataclass(frozen=True)
class LivenessCard:
    """A liveness folder: its networks, which class is live, and where the weights came from."""

    name: str
    folder: Path
    family: str
    models: tuple[PatchModel, ...]
    live_class: int = 1
    licence: str = ""
    source: str = ""

    def as_json(self) -> dict:
        """The liveness.json form."""
        return {"format": CARD_FORMAT, "kind": "liveness", "name": self.name, "family": self.family, "licence": self.licence,
                "source": self.source, "input": INPUT, "live_class": self.live_class, "fusion": "mean of the models' softmax",
                "models": [{"arch": m.arch, "onnx": str(m.onnx), "scale": m.scale, "size": m.size, "checkpoint": m.checkpoint,
                            "sha256": m.sha256} for m in self.models]}


def is_liveness_folder(folder: Path) -> bool:
    """Whether a folder of the models directory is a liveness model (the tower registry leaves it alone)."""
    return (Path(folder) / CARD_FILE).is_file()


def liveness_folders(models_dir: Path) -> list[Path]:
    """The liveness folders under a models directory, by name (hidden ones, imports in progress, skipped)."""
    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        return []
    return sorted(p for p in models_dir.iterdir() if p.is_dir() and not p.name.startswith(".") and is_liveness_folder(p))


def read_liveness_card(folder: Path) -> LivenessCard:
    """The card of a liveness folder, its graphs checked to exist."""
    folder = Path(folder).resolve()
    path = folder / CARD_FILE
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise BadModelFolder(f"{path}: not readable JSON ({error})") from None
    if not isinstance(value, dict) or value.get("format") != CARD_FORMAT:
        raise BadModelFolder(f"{path}: format is not {CARD_FORMAT!r}")
    try:
        models = tuple(PatchModel(arch=str(m["arch"]), onnx=Path(m["onnx"]), scale=float(m["scale"]), size=int(m["size"]),
                                  checkpoint=str(m.get("checkpoint", "")), sha256=str(m.get("sha256", "")))
                       for m in value["models"])
        card = LivenessCard(name=str(value["name"]), folder=folder, family=str(value.get("family", "")), models=models,
                            live_class=int(value.get("live_class", 1)), licence=str(value.get("licence", "")),
                            source=str(value.get("source", "")))
    except (KeyError, TypeError, ValueError) as error:
        raise BadModelFolder(f"{path}: a field is missing or of the wrong type ({type(error).__name__}: {error})") from None
    if not card.models:
        raise BadModelFolder(f"{path}: lists no models")
    for model in card.models:
        if not (folder / model.onnx).is_file():
            raise BadModelFolder(f"{folder / model.onnx}: missing (named in {CARD_FILE})")
        if not (1.0 <= model.scale <= 10.0) or not (16 <= model.size <= 512):
            raise BadModelFolder(f"{path}: {model.arch} has scale {model.scale} and size {model.size}; expected 1-10 and 16-512")
    return card
