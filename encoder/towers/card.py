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

Every problem is a BadModelFolder naming the file at fault.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BadModelFolder
from .preprocess import ImagePreprocess

CARD_FILE = "facegrid.json"
CARD_FORMAT = "facegrid-model/1"
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Immich's folder names for the two CLIP towers.
_IMMICH_TOWERS = {"image": "visual", "text": "textual"}


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
        return tuple(self.towers)

    def as_json(self) -> dict:
        """The facegrid.json form (paths relative to the folder)."""
        towers = {}
        for modality, tower in self.towers.items():
            entry = {"onnx": str(tower.onnx.relative_to(self.folder)), **tower.settings}
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
        if modality == "image":
            preprocess_file = _file(folder, entry.get("preprocess", "visual/preprocess_cfg.json"), "image preprocessing")
            towers[modality] = TowerCard(modality, onnx, preprocess=ImagePreprocess.from_config(_json(preprocess_file), str(preprocess_file)),
                                          preprocess_file=preprocess_file)
        elif modality == "text":
            tokenizer = _file(folder, entry.get("tokenizer", "textual/tokenizer.json"), "tokenizer")
            towers[modality] = TowerCard(modality, onnx, tokenizer=tokenizer, context_length=_context_length(entry.get("context_length", 77), source))
        else:
            towers[modality] = TowerCard(modality, onnx, settings={k: v for k, v in entry.items() if k != "onnx"})
    return ModelCard(_check_name(card.get("name") or folder.name, source), folder, dim, towers, metric,
                     str(card.get("family", "")), str(card.get("arch", "")))


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
