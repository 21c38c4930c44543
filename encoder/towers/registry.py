"""Every model a server can run, by name: the shipped face models and the folders under the models directory.

Folders are found and loaded at start, so a broken one is reported at once, naming the file at fault,
while the others load and serve. A folder's face tower is checked here too (its graph loads, its dimension
is the card's) and served as a face model through `encoder.models.load_model`. A folder may not take a shipped model's name, nor one already taken.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from ..errors import BadModelFolder, EncoderError, UnknownModel
from ..liveness.card import is_liveness_folder
from ..catalog import DEFAULT_MODEL, model_dim, model_names
from ..runtime import EncoderSettings
from .card import ModelCard, read_card
from .model import TowerModel, Wrap, unbatched

log = logging.getLogger("facegrid.encoder")


@dataclass(frozen=True)
class ModelEntry:
    """A model as listed: its name, modalities, space and origin."""

    name: str
    modalities: tuple[str, ...]
    dim: int
    metric: str = "cosine"
    source: str = "shipped"  # "shipped", or the model's folder
    is_default: bool = False


def model_folders(models_dir: Path) -> list[Path]:
    """The embedding model folders under a models directory, by name (hidden ones and liveness models skipped)."""
    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        return []
    return sorted(p for p in models_dir.iterdir() if p.is_dir() and not p.name.startswith(".") and not is_liveness_folder(p))


def find_card(models_dir: Path, name: str) -> ModelCard:
    """The card of the folder model called `name` (UnknownModel when no folder holds it)."""
    for folder in model_folders(models_dir):
        try:
            card = read_card(folder)
        except BadModelFolder:
            continue
        if card.name == name:
            return card
    raise UnknownModel(f"no model folder under {models_dir} is called {name!r}")


def load_tower_model(models_dir: Path, name: str, settings: EncoderSettings | None = None, wrap: Wrap = unbatched) -> TowerModel:
    """A folder model by name, loaded on its own (worker processes, tools)."""
    return TowerModel(find_card(models_dir, name), settings, wrap)


class ModelRegistry:
    """Shipped face models and loaded folder models; `broken` says which folders failed and why."""

    def __init__(self, settings: EncoderSettings | None = None, wrap: Wrap = unbatched,
                 default_face_model: str = DEFAULT_MODEL) -> None:
        self.settings = settings or EncoderSettings()
        self.wrap = wrap
        self.default_face_model = default_face_model
        self.broken: dict[str, str] = {}  # folder -> what is wrong, naming the file
        self._models: dict[str, TowerModel] = {}
        self._lock = threading.Lock()

    def load(self) -> list[str]:
        """Load every folder under the models directory; the names loaded (failures go to `broken`, logged)."""
        loaded = []
        for folder in model_folders(self.settings.models_dir):
            try:
                model = self._load_folder(folder)
            except EncoderError as error:
                self.broken[str(folder)] = str(error)
                log.error("model folder %s not loaded: %s", folder, error)
                continue
            with self._lock:
                self._models[model.name] = model
            loaded.append(model.name)
            log.info("model %s loaded from %s: %s, %d-d", model.name, folder, "+".join(model.modalities), model.dim)
        return loaded

    def _load_folder(self, folder: Path) -> TowerModel:
        card = read_card(folder)
        if card.name in model_names():
            raise BadModelFolder(f"{folder}: the name {card.name!r} is a shipped face model's; give the folder another name")
        with self._lock:
            if card.name in self._models:
                raise BadModelFolder(f"{folder}: the name {card.name!r} is taken by {self._models[card.name].card.folder}")
        return TowerModel(card, self.settings, self.wrap)

    def tower_model(self, name: str) -> TowerModel:
        """A loaded folder model by name (UnknownModel naming those there are)."""
        with self._lock:
            model = self._models.get(name)
            if model is None:
                known = ", ".join(model_names() + sorted(self._models))
                if name in model_names():
                    raise UnknownModel(f"model {name!r} is a face model: it embeds faces, not whole photos or text")
                raise UnknownModel(f"unknown model {name!r}; available: {known}")
            return model

    def names(self) -> list[str]:
        """The loaded folder models' names."""
        with self._lock:
            return sorted(self._models)

    def entries(self) -> list[ModelEntry]:
        """Every model: the shipped face models first, then folder models by name (a trained face model's
        modalities say "face", beside any image or text tower it has)."""
        listed = [ModelEntry(n, ("face",), model_dim(n), is_default=n == self.default_face_model) for n in model_names()]
        with self._lock:
            models = sorted(self._models.values(), key=lambda m: m.name)
        return listed + [ModelEntry(m.name, m.modalities, m.dim, m.metric, str(m.card.folder), m.name == self.default_face_model)
                         for m in models]
