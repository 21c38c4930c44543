"""Where the labelled evaluation photos are, and how their protocols read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .configured import configured_settings

_REPO = Path(__file__).resolve().parents[1]


class DatasetMissing(FileNotFoundError):
    """The evaluation photos are not on this machine."""


def _is_lfw(path: Path) -> bool:
    return (path / "_meta" / "pairs.txt").is_file()


def faces_dir(explicit: str | Path | None = None) -> Path:
    """The `faces/` evaluation folder: --data, FACEGRID_FACES_DIR, or ../shared/data/faces beside the checkout.

    --data may also name the `lfw/` folder inside it (as `eval lfw` has always taken): then its parent is meant.
    """
    candidates = []
    if explicit:
        given = Path(explicit)
        candidates.append(given.parent if _is_lfw(given) else given)
    elif configured := configured_settings().faces_dir:
        candidates.append(Path(configured))
    else:
        candidates += [
            _REPO.parent / "shared" / "data" / "faces",
            Path.cwd().parent / "shared" / "data" / "faces",
            Path.cwd() / "shared" / "data" / "faces",
        ]
    for path in candidates:
        if path.is_dir():
            return path.resolve()
    tried = ", ".join(str(p) for p in candidates)
    raise DatasetMissing(f"evaluation photos not found (tried {tried}); pass --data DIR or set FACEGRID_FACES_DIR")


def pad_dir(explicit: str | Path | None = None) -> Path:
    """The presentation-attack recordings (`pad/`: one folder per recording set-up with live/ and spoof/, and
    minifasnet/ with the upstream weights): --data, FACEGRID_PAD_DIR, or shared/data/pad beside the checkout or
    one of its parents (a worktree sits a level deeper)."""
    if explicit:
        candidates = [Path(explicit)]
    elif configured := configured_settings().pad_dir:
        candidates = [Path(configured)]
    else:
        candidates = [parent / "shared" / "data" / "pad" for parent in _REPO.parents[:3]]
    for path in candidates:
        if path.is_dir():
            return path.resolve()
    tried = ", ".join(str(p) for p in candidates)
    raise DatasetMissing(f"presentation-attack recordings not found (tried {tried}); set FACEGRID_PAD_DIR")


def lfw_dir(explicit: str | Path | None = None) -> Path:
    """The LFW folder: DIR itself if it holds `_meta/pairs.txt`, else DIR/lfw."""
    if explicit and _is_lfw(Path(explicit)):
        return Path(explicit).resolve()
    path = faces_dir(explicit) / "lfw"
    if not _is_lfw(path):
        raise DatasetMissing(f"{path} has no _meta/pairs.txt (LFW View 2 protocol); --data takes the faces/ folder or its lfw/ folder")
    return path


def set_dir(name: str, explicit: str | Path | None = None) -> Path:
    """One evaluation set inside the faces/ folder (e.g. `faceapi_bbt`), or DatasetMissing saying what is expected."""
    path = faces_dir(explicit) / name
    if not path.is_dir() or not any(path.iterdir()):
        raise DatasetMissing(f"{path} is missing or empty; --data takes the faces/ folder (holding lfw/ and {name}/) or its lfw/ folder")
    return path


@dataclass(frozen=True)
class Pair:
    """One LFW View 2 pair: two image paths relative to the LFW folder, same person or not, fold 0-9."""

    first: str
    second: str
    same: bool
    fold: int


def lfw_image(name: str, number: int) -> str:
    """Relative path of an LFW image."""
    return f"{name}/{name}_{number:04d}.jpg"


def read_lfw_pairs(lfw: Path) -> list[Pair]:
    """The official View 2 pairs (10 folds, each 300 same then 300 different)."""
    lines = (lfw / "_meta" / "pairs.txt").read_text().split("\n")
    folds, per_fold = (int(v) for v in lines[0].split())
    rows = [line.split() for line in lines[1:] if line.strip()]
    if len(rows) != folds * 2 * per_fold:
        raise ValueError(f"pairs.txt has {len(rows)} pairs, expected {folds * 2 * per_fold}")
    pairs = []
    for index, row in enumerate(rows):
        fold = index // (2 * per_fold)
        if len(row) == 3:
            pairs.append(Pair(lfw_image(row[0], int(row[1])), lfw_image(row[0], int(row[2])), True, fold))
        else:
            pairs.append(Pair(lfw_image(row[0], int(row[1])), lfw_image(row[2], int(row[3])), False, fold))
    return pairs
