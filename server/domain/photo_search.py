"""Whole-photo search of a photo library: by words, by likeness to a photo, by vector; near-duplicate
groups; k-means over photo vectors (grouping by scene or event). Plain library code, no gRPC.

A collection's photo vectors are of its image model only: a text is embedded with that model's text
tower, a query photo with its image tower, and a query vector must be that model's (same name, same
length). Anything else is refused (ModelMismatch, NoImageModel, MissingModality), never mixed.
Hits carry photos (sha256 and paths) and scores, never stored vectors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facegrid.encoder.errors import ModelError
from facegrid.encoder.image import DecodeLimits, decode_image
from facegrid.encoder.ports import TowerEncoder, TowerEncoders
from facegrid.index.cluster import KMeansResult
from facegrid.index.errors import VectorError
from facegrid.index.near_duplicates import load_near_duplicate_calibration, near_duplicate_groups

from .collections import CollectionInfo, Collections
from .errors import ModelMismatch, ThresholdUnmeasured
from .library import capped_kmeans


@dataclass(frozen=True)
class PhotoHit:
    """A photo found by whole-photo search."""

    score: float
    photo_id: int
    photo_sha256: str
    paths: list[str]


@dataclass(frozen=True)
class PhotoHits:
    """The result of a photo search: the hits and the image model the query was embedded with."""

    hits: list[PhotoHit]
    model: str  # the image model the query was embedded with
    text_truncated: bool = False  # the query text was cut to the model's context length


@dataclass(frozen=True)
class NearDuplicates:
    """Groups of near-duplicate photos, largest first, and the threshold they were linked at."""

    groups: list[list[PhotoHit]]  # score of each member: its best link inside the group
    threshold: float
    threshold_source: str  # "given", or the calibration file it was read from
    photos: int  # photo vectors looked at


@dataclass(frozen=True)
class PhotoClusters:
    """k-means over photo vectors: each photo's cluster (no centroids: they would be stored vectors)."""

    photo_ids: np.ndarray
    photo_sha256: list[str]
    paths: list[list[str]]
    result: KMeansResult


class PhotoSearch:
    """Search and grouping over the whole-photo vectors of photo collections."""

    def __init__(self, collections: Collections, towers: TowerEncoders, limits: DecodeLimits) -> None:
        self.collections = collections
        self.store = collections.store
        self.towers = towers
        self.limits = limits

    def _model(self, info: CollectionInfo, modality: str) -> TowerEncoder:
        """The collection's image model with the tower asked for (FAILED_PRECONDITION where this server cannot run it)."""
        self.collections.photo_vectors(info.name)  # NoImageModel first: the clearest reason
        try:
            model = self.towers.tower_model(info.image_model)
        except ModelError as error:
            raise ModelMismatch(f"collection {info.name!r} holds photo vectors of {info.image_model!r}, which this server "
                                f"cannot load ({error}): install that model folder to search it") from None
        if modality not in model.modalities:  # not the caller's choice of model: the collection's (so not INVALID_ARGUMENT)
            raise ModelMismatch(f"collection {info.name!r} is searched with its image model {info.image_model!r}, which has "
                                f"no {modality} tower (it has: {', '.join(model.modalities)})"
                                + (": search it by likeness to a photo instead" if modality == "text" else ""))
        return model

    def by_text(self, collection: str, text: str, k: int) -> PhotoHits:
        """The k photos nearest to a text, with the text tower of the collection's image model."""
        info = self.collections.info(collection)
        model = self._model(info, "text")
        texts = model.embed_texts([text])
        return PhotoHits(self._search(info, texts.vectors, k), info.image_model, bool(texts.truncated[0]))

    def by_photo(self, collection: str, photo: bytes, k: int) -> PhotoHits:
        """The k photos most like a photo (same scene, near-duplicates), with the collection's image model."""
        info = self.collections.info(collection)
        model = self._model(info, "image")
        vector = model.embed_images([decode_image(photo, self.limits)])
        return PhotoHits(self._search(info, vector, k), info.image_model)

    def by_vector(self, collection: str, vector: np.ndarray, k: int, model: str = "") -> PhotoHits:
        """The k photos nearest to a vector of the collection's image model (`model`, when given, must be it)."""
        info = self.collections.info(collection)
        target = self.collections.photo_vectors(info.name)
        if model and model != info.image_model:
            raise ModelMismatch(f"collection {info.name!r} holds photo vectors of {info.image_model!r}; a vector of "
                                f"{model!r} is not comparable with them")
        vector = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        if vector.shape[1] != target.dim:
            raise VectorError(f"collection {info.name!r} holds {target.dim}-dimensional photo vectors of "
                              f"{info.image_model!r}; the query has {vector.shape[1]} values")
        return PhotoHits(self._search(info, vector, k), info.image_model)

    def _search(self, info: CollectionInfo, queries: np.ndarray, k: int) -> list[PhotoHit]:
        found = self.collections.photo_vectors(info.name).search(queries, k)
        pairs = [(float(s), int(i)) for s, i in zip(found.scores[0], found.ids[0]) if i >= 0]
        return self._hits(info.name, pairs)

    def _hits(self, collection: str, pairs: list[tuple[float, int]]) -> list[PhotoHit]:
        """Photos of (score, photo id) pairs, in order (ids no longer held are left out)."""
        shas = self.store.photo_vectors.shas_of(collection, [i for _, i in pairs])
        records = self.store.photos.get(collection, [d for d in shas if d])
        return [PhotoHit(score, photo_id, sha, records[sha].paths)
                for (score, photo_id), sha in zip(pairs, shas) if sha and sha in records]

    def similar(self, collection: str, threshold: float | None = None, min_size: int = 2) -> NearDuplicates:
        """Groups of near-duplicate photos: linked by pairs scoring at least the threshold (the image
        model's measured one unless given)."""
        info = self.collections.info(collection)
        target = self.collections.photo_vectors(info.name)
        source = "given"
        if threshold is None:
            threshold, source = self._measured_threshold(info)
        ids, vectors = target.items()
        groups = []
        for positions in near_duplicate_groups(vectors, threshold):
            if len(positions) < max(min_size, 2):
                continue
            members = vectors[positions]
            scores = members @ members.T
            np.fill_diagonal(scores, -np.inf)
            best = scores.max(axis=1)
            order = np.argsort(-best, kind="stable")
            groups.append(self._hits(info.name, [(float(best[o]), int(ids[positions[o]])) for o in order]))
        return NearDuplicates([g for g in groups if len(g) >= max(min_size, 2)], float(threshold), source, len(ids))

    def _measured_threshold(self, info: CollectionInfo) -> tuple[float, str]:
        model = self._model(info, "image")
        folder = getattr(getattr(model, "card", None), "folder", None)
        calibration = load_near_duplicate_calibration(folder) if folder is not None else None
        if calibration is None:
            raise ThresholdUnmeasured(
                f"no near-duplicate threshold has been measured for {info.image_model!r}: run "
                f"`facegrid bench near-duplicates --model {info.image_model} --write` (it writes near_duplicates.json "
                f"beside the model's card), or give a threshold")
        return calibration.threshold, str(folder / "near_duplicates.json")

    def kmeans(self, collection: str, k: int | None = None, iterations: int = 20) -> PhotoClusters:
        """k-means over every photo vector of a collection (grouping by scene or event), at most n / 5 clusters."""
        info = self.collections.info(collection)
        ids, vectors = self.collections.photo_vectors(info.name).items()
        result = capped_kmeans(f"collection {info.name!r}", ids, vectors, k, iterations, "photo vectors",
                               self.collections.index_settings)
        shas = [d or "" for d in self.store.photo_vectors.shas_of(info.name, ids.tolist())]
        records = self.store.photos.get(info.name, [d for d in shas if d])
        return PhotoClusters(ids, shas, [records[d].paths if d in records else [] for d in shas], result)
