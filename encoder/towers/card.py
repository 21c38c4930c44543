"""Model cards: what a model folder holds, read from `facegrid.json` or from Immich's CLIP export layout.

A model is one or more towers (image, text, and any further modality such as audio) into one vector
space. Our importers write Immich's layout plus a `facegrid.json` card; a folder exported by Immich
(no card) is read as is:

    config.json                      open_clip's model config ("embed_dim", "text_cfg.context_length")
    visual/model.onnx                input "image" float32 (n, 3, H, W), output (n, dim)
    visual/preprocess_cfg.json       open_clip's PreprocessCfg
    textual/model.onnx               input "text" int32 (n, context_length), output (n, dim)
    textual/tokenizer.json           Hugging Face format: BPE vocab and merges
    textual/tokenizer_config.json

A face tower (models trained by `facegrid train`, encoder/train/export.py) is either a whole network over
aligned chips or a head over a shipped face model's vectors:

    "face": {"onnx": "face/model.onnx", "chip": {"geometry": "arcface" | "dlib", "size": 96},
             "mean": [r, g, b], "std": [r, g, b]}          input "chip" (n, 3, size, size) = (rgb/255 - mean)/std
    "face": {"onnx": "face/head.onnx", "base": "fused", "base_dim": 256}     input "vector" (n, base_dim)

Every problem is a BadModelFolder naming the file at fault.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..catalog import model_dim, model_names
from ..errors import BadModelFolder
from .preprocess import ImagePreprocess

CARD_FILE = "facegrid.json"
CARD_FORMAT = "facegrid-model/1"
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Immich's folder names for the two CLIP towers.
_IMMICH_TOWERS = {"image": "visual", "text": "textual"}
FACE_GEOMETRIES = ("arcface", "dlib")  # encoder/align.py: arcface_chip, DlibChipper
FACE_SIZES = (16, 1024)  # chip edge in pixels, inclusive
FACE_MODEL_ONNX, FACE_HEAD_ONNX = "face/model.onnx", "face/head.onnx"  # where export.py puts them


@dataclass(frozen=True)
class FaceTower:
    """A face tower's input: aligned chips (geometry, size, normalisation) or a shipped base model's vectors."""

    geometry: str = ""  # a network over chips: "arcface" or "dlib"
    size: int = 0
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    base: str = ""  # a head: the shipped face model whose unit vectors it takes
    base_dim: int = 0

    @property
    def is_head(self) -> bool:
        """Whether this tower is a head over a shipped base model's vectors rather than a network over chips."""
        return bool(self.base)


@dataclass(frozen=True)
class TowerCard:
    """One tower: its ONNX graph and how its input is prepared."""

    modality: str
    onnx: Path
    preprocess: ImagePreprocess | None = None  # image towers
    preprocess_file: Path | None = None
    tokenizer: Path | None = None  # text towers
    context_length: int = 0  # text towers
    settings: dict = field(default_factory=dict)  # a further modality's own preprocessing fields, as written
    face: FaceTower | None = None  # face towers
    # Precisions its vectors were measured to hold accuracy at (nearest-neighbour agreement with f32 >= 99% on a fixed
    # set of photos for image/text towers): auto may run it at these only. f32 unless the card lists more.
    precisions: tuple[str, ...] = ("f32",)


@dataclass(frozen=True)
class ModelCard:
    """A model folder: its name, space (dimension, metric) and towers."""

    name: str
    folder: Path
    dim: int
    towers: dict[str, TowerCard]
    metric: str = "cosine"
    family: str = ""  # openclip, torchvision, immich, facegrid (trained here)
    arch: str = ""

    @property
    def modalities(self) -> tuple[str, ...]:
        """The modalities the model embeds, in the card's order."""
        return tuple(self.towers)

    def as_json(self) -> dict:
        """The facegrid.json form (paths relative to the folder)."""
        towers = {}
        for modality, tower in self.towers.items():
            entry = {"onnx": str(tower.onnx.relative_to(self.folder)), **tower.settings}
            if tower.precisions != ("f32",):
                entry["precisions"] = list(tower.precisions)
            if tower.preprocess_file is not None:
                entry["preprocess"] = str(tower.preprocess_file.relative_to(self.folder))
            if tower.tokenizer is not None:
                entry["tokenizer"] = str(tower.tokenizer.relative_to(self.folder))
                entry["context_length"] = tower.context_length
            towers[modality] = entry
        return {"format": CARD_FORMAT, "name": self.name, "family": self.family, "arch": self.arch,
                "dim": self.dim, "metric": self.metric, "towers": towers}


def read_card(folder: Path) -> ModelCard:
    """The card of a model folder: facegrid.json where present, else Immich's layout."""
    folder = Path(folder).resolve()
    if not folder.is_dir():
        raise BadModelFolder(f"{folder}: not a folder")
    if (folder / CARD_FILE).exists():
        return _from_card(folder, _json(folder / CARD_FILE))
    if (folder / "config.json").exists() or (folder / "visual").is_dir():
        return _from_immich(folder)
    raise BadModelFolder(f"{folder}: neither {CARD_FILE} nor Immich's config.json + visual/ is there")


def _json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadModelFolder(f"{path}: missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BadModelFolder(f"{path}: not readable JSON ({error})") from None
    if not isinstance(value, dict):
        raise BadModelFolder(f"{path}: expected a JSON object")
    return value


def _file(folder: Path, relative: str, what: str) -> Path:
    path = (folder / relative).resolve()
    if folder.resolve() not in path.parents:
        raise BadModelFolder(f"{folder / CARD_FILE}: {what} {relative!r} points outside the model folder")
    if not path.is_file():
        raise BadModelFolder(f"{folder / relative}: missing ({what})")
    return path


def _check_name(name: str, source: Path) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise BadModelFolder(f"{source}: model name {str(name)[:80]!r} is not 1-64 letters, digits, '.', '_' or '-'")
    return name


def _from_card(folder: Path, card: dict) -> ModelCard:
    source = folder / CARD_FILE
    if card.get("format") != CARD_FORMAT:
        raise BadModelFolder(f"{source}: format {card.get('format')!r}, expected {CARD_FORMAT!r}")
    try:
        dim, metric = int(card["dim"]), str(card.get("metric", "cosine"))
        listed = card["towers"]
        if not isinstance(listed, dict) or not listed:
            raise ValueError("towers must be a non-empty object")
    except (KeyError, TypeError, ValueError) as error:
        raise BadModelFolder(f"{source}: {type(error).__name__}: {error}") from None
    if not 1 <= dim <= 65536:
        raise BadModelFolder(f"{source}: dim {dim} out of 1..65536")
    if metric != "cosine":
        raise BadModelFolder(f"{source}: metric {metric!r}; only 'cosine' (unit vectors, inner product) is served")
    towers = {}
    for modality, entry in listed.items():
        if not isinstance(entry, dict) or "onnx" not in entry:
            raise BadModelFolder(f"{source}: tower {modality!r} needs an 'onnx' file")
        onnx = _file(folder, entry["onnx"], f"the {modality} tower's ONNX graph")
        precisions = _precisions(entry.get("precisions", ["f32"]), f"{source}: tower {modality!r}")
        own = {k: v for k, v in entry.items() if k not in ("onnx", "precisions")}
        if modality == "image":
            preprocess_file = _file(folder, entry.get("preprocess", "visual/preprocess_cfg.json"), "image preprocessing")
            towers[modality] = TowerCard(modality, onnx, preprocess=ImagePreprocess.from_config(_json(preprocess_file), str(preprocess_file)),
                                          preprocess_file=preprocess_file, precisions=precisions)
        elif modality == "text":
            tokenizer = _file(folder, entry.get("tokenizer", "textual/tokenizer.json"), "tokenizer")
            towers[modality] = TowerCard(modality, onnx, tokenizer=tokenizer, context_length=_context_length(entry.get("context_length", 77), source),
                                         precisions=precisions)
        elif modality == "face":
            towers[modality] = TowerCard(modality, onnx, settings=own, face=_face_tower(entry, source), precisions=precisions)
        else:
            towers[modality] = TowerCard(modality, onnx, settings=own, precisions=precisions)
    return ModelCard(_check_name(card.get("name") or folder.name, source), folder, dim, towers, metric,
                     str(card.get("family", "")), str(card.get("arch", "")))


def _precisions(value, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or "f32" not in value or not set(value) <= {"f32", "bf16"}:
        raise BadModelFolder(f"{where}: precisions must be a list holding 'f32' and optionally 'bf16', got {str(value)[:80]}")
    return tuple(dict.fromkeys(value))


def _from_immich(folder: Path) -> ModelCard:
    config_file = folder / "config.json"
    config = _json(config_file)
    try:
        dim = int(config["embed_dim"])
        context = _context_length((config.get("text_cfg") or {}).get("context_length", 77), config_file)
    except (KeyError, TypeError, ValueError) as error:
        raise BadModelFolder(f"{config_file}: {type(error).__name__}: {error}") from None
    towers = {}
    visual = folder / _IMMICH_TOWERS["image"]
    if visual.is_dir():
        onnx = _file(folder, "visual/model.onnx", "the image tower's ONNX graph")
        preprocess_file = _file(folder, "visual/preprocess_cfg.json", "image preprocessing")
        towers["image"] = TowerCard("image", onnx, preprocess=ImagePreprocess.from_config(_json(preprocess_file), str(preprocess_file)),
                                    preprocess_file=preprocess_file)
    textual = folder / _IMMICH_TOWERS["text"]
    if textual.is_dir():
        onnx = _file(folder, "textual/model.onnx", "the text tower's ONNX graph")
        towers["text"] = TowerCard("text", onnx, tokenizer=_file(folder, "textual/tokenizer.json", "tokenizer"), context_length=context)
    if not towers:
        raise BadModelFolder(f"{folder}: no visual/ or textual/ tower")
    return ModelCard(_check_name(folder.name, folder), folder, dim, towers, family="immich")


def _face_tower(entry: dict, source: Path) -> FaceTower:
    """The face tower's chip or base, every field checked (BadModelFolder naming the card)."""
    has_chip, has_base = "chip" in entry, "base" in entry
    if has_chip == has_base:
        raise BadModelFolder(f"{source}: the face tower needs either 'chip' (a network over face chips) "
                             f"or 'base' (a head over a shipped face model), not {'both' if has_chip else 'neither'}")
    if has_base:
        return _face_head(entry, source)
    chip = entry["chip"]
    if not isinstance(chip, dict):
        raise BadModelFolder(f"{source}: face tower 'chip' must be an object with 'geometry' and 'size'")
    geometry = chip.get("geometry", "arcface")
    if geometry not in FACE_GEOMETRIES:
        raise BadModelFolder(f"{source}: face chip geometry {str(geometry)[:40]!r} is not one of {', '.join(FACE_GEOMETRIES)}")
    size = chip.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or not FACE_SIZES[0] <= size <= FACE_SIZES[1]:
        raise BadModelFolder(f"{source}: face chip size {str(size)[:40]!r} is not a whole number in {FACE_SIZES[0]}..{FACE_SIZES[1]}")
    mean, std = _channels(entry, "mean", source), _channels(entry, "std", source)
    if min(std) <= 0:
        raise BadModelFolder(f"{source}: face tower std {list(std)}: every value must be > 0")
    return FaceTower(geometry=geometry, size=size, mean=mean, std=std)


def _face_head(entry: dict, source: Path) -> FaceTower:
    base = entry["base"]
    if base not in model_names():
        raise BadModelFolder(f"{source}: face head base {str(base)[:40]!r} is not a shipped face model ({', '.join(model_names())})")
    base_dim = entry.get("base_dim", model_dim(base))
    if base_dim != model_dim(base):
        raise BadModelFolder(f"{source}: face head base_dim {str(base_dim)[:40]!r}, but {base} gives {model_dim(base)}-d vectors")
    return FaceTower(base=base, base_dim=model_dim(base))


def _channels(entry: dict, key: str, source: Path) -> tuple[float, float, float]:
    values = entry.get(key)
    if (not isinstance(values, list) or len(values) != 3
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)):
        raise BadModelFolder(f"{source}: face tower {key!r} must be 3 numbers (R, G, B), got {str(values)[:60]}")
    return tuple(float(v) for v in values)


def _context_length(value, source: Path) -> int:
    length = int(value)
    if not 2 <= length <= 4096:
        raise BadModelFolder(f"{source}: context_length {length} out of 2..4096")
    return length


def write_card(card: ModelCard) -> Path:
    """Write a card's facegrid.json into its folder."""
    path = card.folder / CARD_FILE
    path.write_text(json.dumps(card.as_json(), indent=2) + "\n", encoding="utf-8")
    return path
