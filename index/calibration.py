"""Score -> false-accept-rate tables: how a threshold is set for a target FAR, and how rare a score is.

A table is measured once per model from impostor pairs (different people) of a
labelled face set, and shipped as JSON beside this module:
`facegrid eval calibrate --model NAME` rebuilds it (docs/calibration.md). A folder
model's table (a trained face model: its own space) is written into its folder as
`calibration.json`, so it travels with the model and goes when the model goes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TABLES = Path(__file__).resolve().parent / "calibration"
CALIBRATION_FILE = "calibration.json"  # inside a folder model's folder


class CalibrationMissing(LookupError):
    """No calibration table for this model."""


@dataclass(frozen=True)
class Calibration:
    """Impostor-score survival curve: far[i] = share of impostor pairs scoring >= scores[i]."""

    model: str
    scores: np.ndarray  # ascending
    far: np.ndarray  # descending, same length
    impostor_pairs: int
    source: str

    def threshold(self, target_far: float) -> float:
        """The lowest score whose estimated FAR is at most `target_far`."""
        if not 0 < target_far <= 1:
            raise ValueError(f"target FAR must be in (0, 1], got {target_far}")
        below = np.nonzero(self.far <= target_far)[0]
        return float(self.scores[below[0]]) if len(below) else float(self.scores[-1])

    def estimated_far(self, score: float) -> float:
        """Share of impostor comparisons that score at least this high (interpolated in log space)."""
        if score <= self.scores[0]:
            return float(self.far[0])
        if score >= self.scores[-1]:
            return float(self.far[-1])
        return float(np.exp(np.interp(score, self.scores, np.log(np.maximum(self.far, 1e-12)))))

    def to_json(self) -> dict:
        """The curve as the JSON shipped in index/calibration/ (scores rounded, FARs to 4 significant digits)."""
        return {
            "model": self.model,
            "impostor_pairs": self.impostor_pairs,
            "source": self.source,
            "scores": [round(float(s), 5) for s in self.scores],
            "far": [float(f"{f:.4g}") for f in self.far],
        }

    @classmethod
    def from_json(cls, data: dict) -> "Calibration":
        """Read a curve back from its JSON (the inverse of to_json)."""
        return cls(
            model=data["model"],
            scores=np.array(data["scores"], dtype=np.float64),
            far=np.array(data["far"], dtype=np.float64),
            impostor_pairs=int(data["impostor_pairs"]),
            source=data["source"],
        )

    @classmethod
    def from_histogram(cls, model: str, edges: np.ndarray, counts: np.ndarray, source: str) -> "Calibration":
        """A table from a fine histogram of impostor scores: points at log-spaced FAR levels down to 1/total."""
        total = int(counts.sum())
        # survival[i] = impostors scoring >= edges[i]
        survival = np.concatenate([np.cumsum(counts[::-1])[::-1], [0]])
        levels = np.logspace(0, np.log10(1.0 / total), 160)
        scores, fars = [], []
        for level in levels:
            # The lowest edge whose survival share is at most this level.
            index = int(np.argmax(survival <= level * total))
            scores.append(float(edges[index]))
            fars.append(max(survival[index], 1) / total)
        # Above every impostor seen: rarer than one in `total`.
        scores.append(float(edges[int(np.argmax(survival == 0))]))
        fars.append(0.5 / total)
        scores, order = np.unique(np.array(scores), return_index=True)
        fars = np.minimum.accumulate(np.array(fars)[order])
        return cls(model, scores, fars, total, source)


def table_path(model: str, folder: Path = TABLES, model_folder: Path | None = None) -> Path:
    """Where a model's table is: <model_folder>/calibration.json for a folder model, else <folder>/<model>.json."""
    return Path(model_folder) / CALIBRATION_FILE if model_folder is not None else Path(folder) / f"{model}.json"


def load_calibration(model: str, folder: Path = TABLES, model_folder: Path | None = None) -> Calibration:
    """The table for a model: a shipped one's beside this module, a folder model's (model_folder) in its folder.

    No table is CalibrationMissing, never a default threshold: a score means nothing outside its model's space."""
    path = table_path(model, folder, model_folder)
    if not path.is_file():
        raise CalibrationMissing(f"no calibration table for model {model!r} ({path}); run facegrid eval calibrate --model {model}"
                                 + (" --models-dir <its models directory>" if model_folder is not None else ""))
    try:
        table = Calibration.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CalibrationMissing(f"{path}: not a calibration table ({type(error).__name__}: {error}); "
                                 f"run facegrid eval calibrate --model {model} again") from None
    if table.model != model:
        raise CalibrationMissing(f"{path} is the table of model {table.model!r}, not {model!r}; run facegrid eval calibrate --model {model}")
    return table


def save_calibration(calibration: Calibration, folder: Path = TABLES, model_folder: Path | None = None) -> Path:
    """Write a table where `load_calibration` finds it (written beside, then renamed: never half a table)."""
    path = table_path(calibration.model, folder, model_folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.writing")
    staging.write_text(json.dumps(calibration.to_json(), indent=1) + "\n")
    staging.replace(path)
    return path
