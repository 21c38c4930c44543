"""What became of each folder in the models directory (`facegrid models import` writes them; a server loads them at
its start): loaded, broken and why, imported since the start, or a liveness model in use or not. For the console's
Models page; server paths are left out (shown as <models>/name), as in ListModels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from facegrid.encoder.errors import EncoderError
from facegrid.encoder.liveness.card import liveness_folders, read_liveness_card
from facegrid.encoder.towers.registry import ModelRegistry, model_folders

LOADED = "loaded"
BROKEN = "broken"
NEW = "imported since start"
IN_USE = "in use"
NOT_USED = "not used"


@dataclass(frozen=True)
class FolderStatus:
    """One folder of the models directory."""

    folder: str  # <models>/name
    kind: str  # "embedding" or "liveness"
    state: str  # LOADED, BROKEN, NEW, IN_USE or NOT_USED
    detail: str  # the model it holds, or what is wrong with it


def _hidden(text: str, models_dir: Path) -> str:
    return text.replace(str(models_dir.resolve()), "<models>").replace(str(models_dir), "<models>")


def folder_statuses(registry: ModelRegistry, liveness_model: str | None) -> list[FolderStatus]:
    """Every model folder's status: embedding folders as the registry loaded them at start, liveness folders as the
    door's checker (`liveness_model`: the name of the one loaded, None for none) uses them."""
    models_dir = Path(registry.settings.models_dir)
    loaded = {entry.source: entry for entry in registry.entries() if entry.source != "shipped"}
    statuses = []
    for folder in model_folders(models_dir):
        shown = f"<models>/{folder.name}"
        if str(folder) in loaded:
            entry = loaded[str(folder)]
            statuses.append(FolderStatus(shown, "embedding", LOADED,
                                         f"{entry.name}: {'+'.join(entry.modalities)}, {entry.dim}-d {entry.metric}"))
        elif str(folder) in registry.broken:
            statuses.append(FolderStatus(shown, "embedding", BROKEN, _hidden(registry.broken[str(folder)], models_dir)))
        else:
            statuses.append(FolderStatus(shown, "embedding", NEW, "a server loads it at its next start"))
    for folder in liveness_folders(models_dir):
        shown = f"<models>/{folder.name}"
        try:
            card = read_liveness_card(folder)
        except EncoderError as error:
            statuses.append(FolderStatus(shown, "liveness", BROKEN, _hidden(str(error), models_dir)))
            continue
        networks = ", ".join(m.arch for m in card.models)
        statuses.append(FolderStatus(shown, "liveness", IN_USE if card.name == liveness_model else NOT_USED,
                                     f"{card.name} ({card.family}: {networks})"))
    return statuses
