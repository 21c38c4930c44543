"""Whether a folder model's towers keep their neighbours on OpenVINO at a precision (bf16), against ONNX Runtime f32.

Top-1 agreement of nearest neighbours on a fixed set of photos: for the image tower, each photo's nearest other
photo, with both sides' vectors at the precision checked; for the text tower, each caption's nearest photo (the
photos' vectors at f32 on both sides, so only the text tower's change counts). A tower may run at a precision
(its card's `precisions`, what `auto` chooses from) only where the agreement is at least AGREEMENT_NEEDED.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from facegrid.encoder.image import DecodeLimits, decode_image
from facegrid.encoder.runtime import EncoderSettings
from facegrid.encoder.sessions.openvino_session import OpenVinoSession
from facegrid.encoder.towers.card import CARD_FILE
from facegrid.encoder.towers.model import TowerModel
from facegrid.encoder.towers.registry import find_card
from facegrid.encoder.vectors import l2_normalise

AGREEMENT_NEEDED = 0.99
# A fixed set of captions for the text tower: everyday scenes of a photo library.
CAPTIONS = [f"a photo of {thing}" for thing in (
    "a person", "a group of people", "a face", "a child", "an old man", "a woman smiling", "a man with glasses",
    "a dog", "a cat", "a bird", "a horse", "a car", "a bicycle", "a bus", "a train", "an airplane", "a boat",
    "a beach", "a mountain", "a forest", "a city street", "a building", "a kitchen", "a bedroom", "an office",
    "food on a plate", "a cake", "a birthday party", "a wedding", "a concert", "a football match", "a swimming pool",
    "a gym", "a dining hall", "a classroom", "a library", "snow", "a sunset", "flowers", "a tree", "the sea",
    "a document", "a screenshot", "a drawing", "a logo", "a map", "a night sky", "a crowd", "a portrait", "a selfie")]


@dataclass
class PrecisionCheck:
    """Agreement per tower between ONNX Runtime f32 and OpenVINO at `precision`."""

    model: str
    precision: str
    photos: int
    agreement: dict[str, float] = field(default_factory=dict)  # modality -> top-1 agreement (0..1)

    def holds(self, modality: str) -> bool:
        """Whether the tower's neighbours agree enough at this precision."""
        return self.agreement.get(modality, 0.0) >= AGREEMENT_NEEDED


def nearest_agreement(reference: np.ndarray, other: np.ndarray, against_reference: np.ndarray | None = None,
                      against_other: np.ndarray | None = None) -> float:
    """Fraction of rows whose nearest neighbour is the same under both sets of unit vectors.

    Without `against_*` the rows are searched among themselves (each row's nearest other row); with them, among
    those (e.g. captions among photos).
    """
    if against_reference is None:
        first, second = reference @ reference.T, other @ other.T
        np.fill_diagonal(first, -np.inf)
        np.fill_diagonal(second, -np.inf)
    else:
        first, second = reference @ against_reference.T, other @ against_other.T
    return float((first.argmax(axis=1) == second.argmax(axis=1)).mean())


def check_precision(models_dir: Path, name: str, photos: Sequence[Path], precision: str = "bf16",
                    cache_dir: Path | None = None, threads: int = 0) -> PrecisionCheck:
    """Top-1 agreement of each image/text tower of folder model `name` on OpenVINO at `precision`.

    ValueError where OpenVINO would not compute at that precision here (a CPU without native bf16)."""
    settings = EncoderSettings(runtime="onnxruntime", precision="f32", threads=threads, models_dir=Path(models_dir),
                               **({"cache_dir": Path(cache_dir)} if cache_dir else {}))
    model = TowerModel(find_card(Path(models_dir), name), settings)
    images = [decode_image(Path(p).read_bytes(), DecodeLimits()) for p in photos]
    if len(images) < 2:
        raise ValueError("give at least two photos")
    check = PrecisionCheck(name, precision, len(images))
    others = {}
    for modality in ("image", "text"):
        tower = model.towers.get(modality)
        if tower is None:
            continue
        others[modality] = OpenVinoSession(model.card.towers[modality].onnx, threads, precision,
                                           cache_dir=Path(settings.cache_dir) / "openvino")
        if others[modality].precision != precision:
            raise ValueError(f"OpenVINO computes {others[modality].precision} here, not {precision}: this CPU lacks it "
                             "(bf16 needs AVX-512 BF16 or AMX)")
    if "image" in model.towers:
        rows = np.stack([model.preprocess(image) for image in images])
        reference = l2_normalise(model.towers["image"].run(rows))
        other = l2_normalise(others["image"].run(None, {model.towers["image"].input_name: rows})[0])
        check.agreement["image"] = nearest_agreement(reference, other)
        if "text" in model.towers:
            tower = model.towers["text"]
            ids = model.tokenizer.encode(CAPTIONS).ids.astype(tower.input_type)
            captions_reference = l2_normalise(tower.run(ids))
            captions_other = l2_normalise(others["text"].run(None, {tower.input_name: ids})[0])
            check.agreement["text"] = nearest_agreement(captions_reference, captions_other, reference, reference)
    return check


def record(check: PrecisionCheck, models_dir: Path) -> list[str]:
    """Add the precision to the card of every tower that holds it; the modalities recorded."""
    card = find_card(Path(models_dir), check.model)
    path = card.folder / CARD_FILE
    if not path.is_file():
        raise ValueError(f"{card.folder} has no {CARD_FILE} (an Immich-layout folder): write one to record precisions")
    written = json.loads(path.read_text())
    recorded = []
    for modality, entry in written["towers"].items():
        if check.holds(modality):
            entry["precisions"] = sorted(set(entry.get("precisions", ["f32"])) | {"f32", check.precision})
            recorded.append(modality)
    staging = path.with_name(f".{path.name}.writing")
    staging.write_text(json.dumps(written, indent=1) + "\n")
    staging.replace(path)
    return recorded
