"""A pairs file: two columns of naturally paired items, the header naming each column's modality.

    image,audio
    images/dog-1.png,audio/dog-barks.wav

Columns are files relative to the CSV's own folder (or absolute paths), except a "text" column, whose
cells are the texts themselves. Every file is checked before any training starts: a missing one is
listed (the first 20, and how many in all), never skipped quietly.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import EncoderError
from ..image import decode_image
from ..towers.audio import Audio, decode_wav
from .run import TrainError

MODALITIES = ("image", "text", "audio")


@dataclass(frozen=True)
class Pairs:
    """The two columns of a pairs file: modality names and items (resolved paths, or texts)."""

    source: Path
    modalities: tuple[str, str]
    left: list[str]
    right: list[str]

    def __len__(self) -> int:
        return len(self.left)


def read_pairs(path: Path) -> Pairs:
    """The pairs of a CSV file; TrainError for a missing file, a bad header, no rows or missing item files."""
    path = Path(path).expanduser()
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except FileNotFoundError:
        raise TrainError(f"{path}: no such pairs file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise TrainError(f"{path}: not a readable CSV file ({error})") from None
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        raise TrainError(f"{path}: empty; the first row names the two columns' modalities, e.g. image,audio")
    header = tuple(cell.strip().lower() for cell in rows[0])
    if len(header) != 2 or not all(h in MODALITIES for h in header) or header[0] == header[1]:
        raise TrainError(f"{path}: the header row must name two different modalities of {', '.join(MODALITIES)} "
                         f"(e.g. image,audio), got {','.join(rows[0])[:80]!r}")
    bad = [n for n, r in enumerate(rows[1:], start=2) if len(r) != 2 or not all(cell.strip() for cell in r)]
    if bad:
        raise TrainError(f"{path}: rows {', '.join(map(str, bad[:10]))} do not have two non-empty cells")
    if len(rows) < 3:
        raise TrainError(f"{path}: {len(rows) - 1} pair; contrastive training needs at least 2")
    columns = [[r[i].strip() if header[i] == "text" else _resolve(path, r[i].strip()) for r in rows[1:]] for i in (0, 1)]
    missing = sorted({item for column, kind in zip(columns, header) if kind != "text" for item in column
                      if not Path(item).is_file()})
    if missing:
        shown = "\n  ".join(missing[:20])
        raise TrainError(f"{path}: {len(missing)} listed file{'s' if len(missing) != 1 else ''} missing:\n  {shown}"
                         + ("\n  ..." if len(missing) > 20 else ""))
    return Pairs(path, header, columns[0], columns[1])


def _resolve(csv_path: Path, cell: str) -> str:
    item = Path(cell).expanduser()
    return str(item if item.is_absolute() else (csv_path.parent / item).resolve())


def load_image(path: str) -> np.ndarray:
    """An RGB uint8 image from a file (TrainError naming it when it is not a usable image)."""
    try:
        return decode_image(Path(path).read_bytes())
    except (OSError, EncoderError) as error:
        raise TrainError(f"{path}: {error}") from None


def load_audio(path: str) -> Audio:
    """A clip from a WAV file (TrainError naming it when it is not usable audio)."""
    try:
        return decode_wav(Path(path).read_bytes())
    except (OSError, EncoderError) as error:
        raise TrainError(f"{path}: {error}") from None
