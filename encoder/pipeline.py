"""Photo bytes to faces: decode, detect, align, embed.

`FacePipeline.faces(data)` serves one photo; `faces_many(...)` spreads many
photos over worker processes (one ONNX Runtime thread each), which keeps every
core busy on CPU-bound work that does not batch well on a CPU.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Literal, Sequence

import numpy as np

from .detect import Detection, Detector, centred_guess, detect_traced, make_detector, nearest_to_centre
from .errors import EncoderError
from .image import DecodeLimits, decode_image
from .models import DEFAULT_MODEL, FaceModel, load_model
from .processes import die_with_parent
from .quality import FaceQuality, assess
from .runtime import EncoderSettings

Subject = Literal["all", "centre"]

# Bump when detection, alignment or embedding changes, so cached evaluation vectors are recomputed.
PIPELINE_VERSION = "3"


@dataclass(frozen=True)
class Face:
    """One face in a photo, with its vector."""

    box: tuple[float, float, float, float]  # x, y, width, height in the decoded (EXIF-rotated) photo
    landmarks: np.ndarray  # (5, 2) ArcFace order
    detector: str
    quality: FaceQuality
    vector: np.ndarray  # (dim,) float32, L2-normalised
    model: str

    def as_dict(self, values: int | None = None) -> dict:
        """Plain dict for JSON; `values` limits how many vector values are listed."""
        vector = self.vector if values is None else self.vector[:values]
        return {
            "box": [round(float(v), 1) for v in self.box],
            "landmarks": np.round(self.landmarks, 1).tolist(),
            "detector": self.detector,
            "quality": self.quality.as_dict(),
            "model": self.model,
            "dim": int(self.vector.shape[0]),
            "vector": [round(float(v), 5) for v in vector],
        }


@dataclass
class PhotoFaces:
    """The outcome for one photo of a batch: its faces, or the error that stopped it."""

    key: str
    faces: list[Face] = field(default_factory=list)
    error: str | None = None
    error_type: str | None = None


@dataclass
class PhotoEmbedding:
    """One photo of a bulk-indexing batch: its faces and, where an image model was asked for, its whole-photo vector."""

    faces: list[Face]
    vector: np.ndarray | None = None  # (dim,) float32, unit length


ImageEmbedder = Callable[[np.ndarray], np.ndarray]  # one decoded RGB photo -> its whole-photo vector


@dataclass(frozen=True)
class FoundFaces:
    """A photo's faces found and measured, not yet embedded: embed only those worth it (`FacePipeline.embed_one`)."""

    image: np.ndarray  # the decoded RGB photo, kept to cut chips from
    detections: list[Detection]
    qualities: list[FaceQuality]
    detectors: tuple[str, ...]  # the detectors that looked, in order (a cascade stops at the first that finds faces)


@dataclass
class _Found:
    """What one photo yields before embedding: its detections, their chips and quality."""

    detections: list[Detection]
    chips: list
    qualities: list[FaceQuality]


class FacePipeline:
    """Decode, detect, align and embed with one model and one detector."""

    def __init__(
        self,
        model: str | FaceModel = DEFAULT_MODEL,
        detector: str | Detector = "cascade",
        limits: DecodeLimits = DecodeLimits(),
        mirror: bool | None = None,
        settings: EncoderSettings | None = None,
    ) -> None:
        self.model = load_model(model, mirror=mirror, settings=settings) if isinstance(model, str) else model
        self.detector = make_detector(detector, settings) if isinstance(detector, str) else detector
        self.limits = limits

    def faces(self, data: bytes, subject: Subject = "all", guess_when_missing: bool = False) -> list[Face]:
        """Every face in a photo's bytes (an empty list when there is none)."""
        return self.faces_in_image(decode_image(data, self.limits), subject, guess_when_missing)

    def faces_in_image(
        self, image: np.ndarray, subject: Subject = "all", guess_when_missing: bool = False
    ) -> list[Face]:
        """Every face in an RGB image; `subject="centre"` keeps only the one nearest the centre.

        `guess_when_missing` is for evaluation protocols that need a vector for
        every photo: where no detector finds a face, a centred guess is embedded
        and marked with detector "centre_guess".
        """
        return self.faces_in_images([image], subject, guess_when_missing)[0]

    def faces_in_images(
        self, images: Sequence[np.ndarray], subject: Subject = "all", guess_when_missing: bool = False
    ) -> list[list[Face]]:
        """Faces of several RGB images, their chips embedded in shared batches."""
        return self._embed_found([self._find(image, subject, guess_when_missing) for image in images])

    def faces_in_photos(
        self, photos: Sequence[bytes], subject: Subject = "all", guess_when_missing: bool = False
    ) -> list[list[Face] | EncoderError]:
        """Faces of several photos' bytes, their chips embedded in shared batches; a photo that cannot
        be used gets its typed error in its place. Only one decoded photo is held at a time (a batch
        of 40-megapixel photos would otherwise hold ~1 GB): its chips are cut, then it is dropped."""
        results: list[list[Face] | EncoderError] = []
        found: list[_Found] = []
        for data in photos:
            try:
                found.append(self._find(decode_image(data, self.limits), subject, guess_when_missing))
                results.append([])
            except EncoderError as error:
                results.append(error)
            except Exception as error:  # noqa: BLE001 - a detector failing on one photo fails that photo only
                results.append(EncoderError(f"{type(error).__name__} while finding faces: {error}"))
        faces = iter(self._embed_found(found))
        return [result if isinstance(result, EncoderError) else next(faces) for result in results]

    def embed_photos(self, photos: Sequence[bytes], image: ImageEmbedder | None = None) -> list[PhotoEmbedding | EncoderError]:
        """Faces of several photos' bytes (chips embedded in shared batches) and, with `image`, each photo's
        whole-photo vector from the same decoded pixels: each photo is decoded once, and dropped before the next."""
        results: list[PhotoEmbedding | EncoderError] = []
        found: list[_Found] = []
        for data in photos:
            try:
                decoded = decode_image(data, self.limits)
                faces = self._find(decoded, "all", False)
                vector = image(decoded) if image is not None else None
            except EncoderError as error:
                results.append(error)
                continue
            except Exception as error:  # noqa: BLE001 - a detector or tower failing on one photo fails that photo only
                results.append(EncoderError(f"{type(error).__name__} while embedding the photo: {error}"))
                continue
            found.append(faces)
            results.append(PhotoEmbedding([], vector))
        faces = iter(self._embed_found(found))
        for result in results:
            if isinstance(result, PhotoEmbedding):
                result.faces = next(faces)
        return results

    def find_faces(self, data: bytes, detector: Detector | None = None) -> FoundFaces:
        """Decode a photo and find and measure its faces (with `detector`, else the pipeline's own), embedding none."""
        return self.find_faces_in_image(decode_image(data, self.limits), detector)

    def find_faces_in_image(self, image: np.ndarray, detector: Detector | None = None) -> FoundFaces:
        """`find_faces` of an image already decoded (RGB uint8): a caller timing decoding and detection apart."""
        detections, tried = detect_traced(detector or self.detector, image)
        return FoundFaces(image, detections, [assess(image, d) for d in detections], tried)

    def embed_one(self, found: FoundFaces, index: int) -> Face:
        """The vector of one found face."""
        return self.embed_some([(found, index)])[0]

    def embed_some(self, faces: Sequence[tuple[FoundFaces, int]]) -> list[Face]:
        """The vectors of several found faces (of one photo or several), in one run of the model."""
        chips = [self.model.chip(found.image, found.detections[index]) for found, index in faces]
        vectors = self.model.embed(chips) if chips else []
        return [Face(box=found.detections[index].box, landmarks=found.detections[index].landmarks,
                     detector=found.detections[index].detector, quality=found.qualities[index], vector=vector,
                     model=self.model.name)
                for (found, index), vector in zip(faces, vectors)]

    def _find(self, image: np.ndarray, subject: Subject, guess_when_missing: bool) -> "_Found":
        detections = self._detections(image, subject, guess_when_missing)
        return _Found(detections, [self.model.chip(image, d) for d in detections], [assess(image, d) for d in detections])

    def _embed_found(self, found: list["_Found"]) -> list[list[Face]]:
        vectors = iter(self.model.embed([chip for f in found for chip in f.chips]))
        return [
            [
                Face(box=d.box, landmarks=d.landmarks, detector=d.detector, quality=quality,
                     vector=next(vectors), model=self.model.name)
                for d, quality in zip(f.detections, f.qualities)
            ]
            for f in found
        ]

    def _detections(self, image: np.ndarray, subject: Subject, guess_when_missing: bool) -> list[Detection]:
        detections = self.detector.detect(image)
        if subject == "centre":
            nearest = nearest_to_centre(detections, image.shape)
            detections = [nearest] if nearest is not None else []
        if not detections and guess_when_missing:
            detections = [centred_guess(image.shape)]
        return detections


# --- many photos over worker processes -------------------------------------------------

_worker: dict = {}


def start_worker(model: str, detector: str, mirror: bool | None, limits: DecodeLimits,
                 settings: EncoderSettings | None = None, nice: int = 0) -> None:
    """Process-pool initializer: one single-threaded pipeline per worker process."""
    import cv2

    die_with_parent()  # a server killed outright must not leave its workers behind
    if nice:
        os.nice(nice)  # bulk work yields the cores to the serving process (the gate) whenever it needs them
    cv2.setNumThreads(1)  # one core per worker: the pool supplies the parallelism
    _worker["settings"] = (settings or EncoderSettings()).single_threaded()
    _worker["pipeline"] = FacePipeline(model, detector, limits, mirror=mirror, settings=_worker["settings"])
    _worker["towers"] = {}


def faces_of_photos(photos: list[bytes]) -> list[list[Face] | EncoderError]:
    """Worker task: every face of several photos' bytes (see `FacePipeline.faces_in_photos`)."""
    return _worker["pipeline"].faces_in_photos(photos)


def _worker_tower(name: str):
    """The worker's copy of a folder model (loaded from the models directory on first use, kept)."""
    towers = _worker["towers"]
    if name not in towers:
        from .towers.registry import load_tower_model  # only workers of collections with an image model load it

        settings = _worker["settings"]
        model = load_tower_model(settings.models_dir, name, settings)
        model.require("image")
        towers[name] = model
    return towers[name]


def embed_photos(photos: list[bytes], image_model: str = "") -> list[PhotoEmbedding | EncoderError]:
    """Worker task: faces of several photos and, with an image model (a folder model's name), each one's
    whole-photo vector, from one decoding (see `FacePipeline.embed_photos`)."""
    image = None
    if image_model:
        tower = _worker_tower(image_model)  # a model that cannot load fails the whole batch: its error says why
        image = lambda rgb: tower.embed_images([rgb])[0]  # noqa: E731 - one photo at a time: no batch of decoded photos held
    return _worker["pipeline"].embed_photos(photos, image)


def photo_vectors_of(photos: list[bytes], image_model: str) -> list[np.ndarray | EncoderError]:
    """Worker task: whole-photo vectors alone (photos indexed before their collection had an image model)."""
    tower = _worker_tower(image_model)
    limits = _worker["pipeline"].limits
    vectors: list[np.ndarray | EncoderError] = []
    for data in photos:
        try:
            vectors.append(tower.embed_images([decode_image(data, limits)])[0])
        except EncoderError as error:
            vectors.append(error)
        except Exception as error:  # noqa: BLE001 - one photo's failure is that photo's
            vectors.append(EncoderError(f"{type(error).__name__} while embedding the photo: {error}"))
    return vectors


def worker_pool(model: str, detector: str, limits: DecodeLimits, workers: int | None = None,
                settings: EncoderSettings | None = None, nice: int = 0) -> ProcessPoolExecutor:
    """Worker processes, one single-threaded pipeline each, for bulk work that should use every core."""
    return ProcessPoolExecutor(
        max_workers=workers or os.cpu_count() or 1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=start_worker,
        initargs=(model, detector, None, limits, settings, nice),
    )


def run_chunk(items: list[tuple[str, str | bytes]], subject: Subject, guess: bool) -> list[PhotoFaces]:
    """Worker task: faces for a few photos, their chips embedded in shared batches."""
    pipeline: FacePipeline = _worker["pipeline"]
    results = [PhotoFaces(key) for key, _ in items]
    photos, readable = [], []
    for result, (_, source) in zip(results, items):
        try:
            photos.append(Path(source).read_bytes() if isinstance(source, str) else source)
            readable.append(result)
        except OSError as error:
            result.error, result.error_type = str(error), type(error).__name__
    for result, found in zip(readable, pipeline.faces_in_photos(photos, subject, guess)):
        if isinstance(found, EncoderError):
            result.error, result.error_type = str(found), type(found).__name__
        else:
            result.faces = found
    return results


def faces_many(
    items: Iterable[tuple[str, str | bytes]],
    model: str = DEFAULT_MODEL,
    detector: str = "cascade",
    workers: int | None = None,
    subject: Subject = "all",
    guess_when_missing: bool = False,
    mirror: bool | None = None,
    limits: DecodeLimits = DecodeLimits(),
    chunk: int = 8,
    settings: EncoderSettings | None = None,
) -> Iterator[PhotoFaces]:
    """Faces for many photos, given as (key, file path or bytes), in input order, using all cores
    (settings: where folder models are, device; each worker runs single-threaded).

    A photo that cannot be read yields a PhotoFaces with `error` set; the run goes on.
    """
    workers = workers or os.cpu_count() or 1
    batches = _chunks(items, chunk)
    # spawn, not fork: ONNX Runtime and OpenCV thread pools do not survive a fork.
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=start_worker,
        initargs=(model, detector, mirror, limits, settings),
    ) as pool:
        pending = []
        for batch in batches:
            pending.append(pool.submit(run_chunk, batch, subject, guess_when_missing))
            # Bounded look-ahead keeps memory flat on huge folders.
            if len(pending) >= workers * 4:
                yield from pending.pop(0).result()
        for future in pending:
            yield from future.result()


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
