"""A model of towers into one space, on ONNX Runtime: photos and texts in, unit vectors out.

Each tower splits its work in two: `prepare` turns one item into one input row (decoding-side work,
done in the caller's thread, in parallel across callers) and `run` turns a stack of rows into vectors
(the inference call: the part a batcher gathers across callers). `wrap` is how the server puts its
batcher in front of each `run`; by default each call runs on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..errors import BadModelFolder, BadText, MissingModality
from ..runtime import EncoderSettings
from ..sessions.open import open_session
from .audio import Audio, AudioPreprocess
from .card import ModelCard, TowerCard
from .tokenizer import ClipTokenizer
from ..vectors import l2_normalise


Run = Callable[[np.ndarray], np.ndarray]
Wrap = Callable[[str, Run], Run]  # (batcher name, run) -> run through a batcher


def unbatched(name: str, run: Run) -> Run:
    """No batcher: each call runs on its own."""
    return run


@dataclass(frozen=True)
class Texts:
    """Vectors of several texts, and which of them were cut to the context length (as the reference cuts)."""

    vectors: np.ndarray  # (n, dim) float32, unit rows
    truncated: list[bool]


class OnnxTower:
    """One tower's ONNX graph in a session (encoder/sessions): a stack of prepared rows in, raw vectors out."""

    def __init__(self, model: str, card: TowerCard, dim: int, settings: EncoderSettings) -> None:
        self.modality = card.modality
        try:
            self.session = open_session(card.onnx, settings, f"{model}/{card.modality}", card.precisions,
                                        batch=settings.batch_max or 8)
        except Exception as error:  # noqa: BLE001 - the runtimes raise their own untyped errors for bad graphs
            raise BadModelFolder(f"{card.onnx}: it cannot be loaded ({type(error).__name__}: {str(error)[:300]})") from None
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1:
            raise BadModelFolder(f"{card.onnx}: expected one input, found {[i.name for i in inputs]}")
        self.input_name = inputs[0].name
        self.input_type = np.int64 if inputs[0].type == "tensor(int64)" else np.int32 if "int" in inputs[0].type else np.float32
        width = outputs[0].shape[-1] if outputs and outputs[0].shape else None
        if isinstance(width, int) and width != dim:
            raise BadModelFolder(f"{card.onnx}: gives {width}-d vectors, the card says {dim}")
        self.dim = dim
        self.name = f"{model}/{card.modality}"

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Raw (unnormalised) vectors of a stack of prepared rows."""
        out = self.session.run(None, {self.input_name: batch.astype(self.input_type, copy=False)})[0]
        if out.ndim != 2 or out.shape[1] != self.dim:
            raise BadModelFolder(f"{self.name}: gave shape {out.shape}, expected (n, {self.dim})")
        return out


class TowerModel:
    """A model of one or more towers into one space (image, text, further modalities)."""

    def __init__(self, card: ModelCard, settings: EncoderSettings | None = None, wrap: Wrap = unbatched) -> None:
        settings = settings or EncoderSettings()
        self.card = card
        self.name, self.dim, self.metric = card.name, card.dim, card.metric
        self.towers = {modality: OnnxTower(card.name, tower, card.dim, settings) for modality, tower in card.towers.items()}
        # A face tower's graph is loaded here to check it at start; faces are served by the face model that
        # `encoder.models.load_model` makes of the folder (chips, mirroring, its own batcher), so no batcher here.
        self._runs = {modality: wrap(tower.name, tower.run) for modality, tower in self.towers.items() if modality != "face"}
        image = card.towers.get("image")
        self.preprocess = image.preprocess if image is not None else None
        text = card.towers.get("text")
        self.tokenizer = None
        if text is not None:
            self.tokenizer = ClipTokenizer.from_tokenizer_json(text.tokenizer, text.context_length)
        audio = card.towers.get("audio")
        self.audio_preprocess = None
        if audio is not None:
            self.audio_preprocess = AudioPreprocess.from_settings(audio.settings, f"{card.folder}/facegrid.json (audio tower)")

    @property
    def modalities(self) -> tuple[str, ...]:
        """The modalities this model can embed (from its card)."""
        return self.card.modalities

    def require(self, modality: str) -> None:
        """Raise MissingModality unless the model has this tower."""
        self._run(modality)

    def _run(self, modality: str) -> Run:
        run = self._runs.get(modality)
        if run is None and modality == "face" and "face" in self.towers:
            raise MissingModality(f"model {self.name!r} embeds faces as a face model (detected, aligned): ask for faces, not a tower")
        if run is None:
            raise MissingModality(f"model {self.name!r} has no {modality} tower; it has: {', '.join(self.modalities)}")
        return run

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Unit vectors (n, dim) of RGB uint8 images (h, w, 3)."""
        run = self._run("image")
        if len(images) == 0:
            return np.zeros((0, self.dim), np.float32)
        return l2_normalise(run(np.stack([self.preprocess(image) for image in images])))

    def embed_texts(self, texts: Sequence[str]) -> Texts:
        """Unit vectors (n, dim) of texts, cut to the context length as the reference tokenizer cuts them."""
        run = self._run("text")
        if any(not isinstance(text, str) for text in texts):
            raise BadText("texts must be strings")
        if len(texts) == 0:
            return Texts(np.zeros((0, self.dim), np.float32), [])
        tokens = self.tokenizer.encode(list(texts))
        return Texts(l2_normalise(run(tokens.ids)), list(tokens.truncated))

    def embed_audio(self, clips: Sequence[Audio]) -> np.ndarray:
        """Unit vectors (n, dim) of audio clips (decoded, any sample rate), as the audio tower's card prepares them."""
        run = self._run("audio")
        if len(clips) == 0:
            return np.zeros((0, self.dim), np.float32)
        return l2_normalise(run(np.stack([self.audio_preprocess(clip) for clip in clips])))

    def describe(self) -> dict:
        """Name, modalities, dim, metric and origin, for listings."""
        return {"name": self.name, "modalities": list(self.modalities), "dim": self.dim, "metric": self.metric,
                "family": self.card.family, "arch": self.card.arch, "folder": str(self.card.folder)}
