"""Grouping a photo collection's faces by person, and the user's corrections to it.

Clustering stores each face's group in Redis; faces indexed later join the
nearest group when close enough (`assign_new`). Corrections are pins: faces
pinned to one label always share a group, faces with different labels never
do, in every later clustering too. Each correction is recorded so it can be
undone.

Several servers may group one collection: clustering, corrections and undo each take
the collection's lock in Redis (every server's), so none overwrites another's result
made meanwhile; faces indexed elsewhere during a clustering are given groups of the
new grouping once it is stored.
"""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import numpy as np

from facegrid.encoder.models import model_folder
from facegrid.encoder.runtime import EncoderSettings
from facegrid.index.calibration import load_calibration
from facegrid.index.cluster import UNASSIGNED, group_faces, group_vectors
from facegrid.index.errors import CollectionNotFound, VectorError

from ..store.locks import LockBusy
from ..store.faces import FaceRecord
from ..store.pseudonyms import is_pseudonym
from .collections import Collections
from .errors import GroupingBusy, NoUsableFace, NothingToUndo
from .gate import Gate, NamedEnrollment
from .group_assignment import GroupAssigner

DEFAULT_LINK_FAR = 1e-5  # faces link where one pair of strangers in 100,000 would (docs/benchmarks.md)


@dataclass(frozen=True)
class Grouping:
    """The groups of a collection's faces (largest first), with the names given and what a naming enrolled."""

    groups: list[tuple[int, list[FaceRecord]]]  # largest first
    unassigned: int
    threshold: float
    names: dict[int, str] = field(default_factory=dict)  # group id -> subject id it was named as
    naming: NamedEnrollment | None = None  # what a naming just enrolled at the gate


def _is_name(pin: str) -> bool:
    return bool(pin) and not pin.startswith("~")  # "~..." pins are anonymous (merge, split)


class PersonGroups:
    """Groups by person over a library's face collections; naming a group enrolls it at the gate."""

    def __init__(self, collections: Collections, assigner: GroupAssigner, gate: Gate,
                 encoder: EncoderSettings | None = None) -> None:
        self.collections = collections
        self.encoder = encoder  # where folder face models (and their calibration tables) are
        self.records = collections.store
        self.assigner = assigner
        self.gate = gate
        self._lock = collections.lock  # this server's; `_exclusive` takes every server's

    @contextmanager
    def _exclusive(self, collection: str):
        """Hold the collection's grouping lock shared by every server on this Redis."""
        lock = self.records.grouping.lock(collection)
        try:
            lock.acquire()
        except LockBusy:
            raise GroupingBusy(f"collection {collection!r} is being regrouped or corrected elsewhere; try again") from None
        try:
            yield
        finally:
            lock.release()

    def _face_collection(self, collection: str) -> str:
        info = self.collections.info(collection)
        if info.plain:
            raise VectorError(f"collection {info.name!r} holds plain vectors; group them with KMeans")
        return info.name

    def cluster(self, collection: str, min_size: int = 1, link_far: float = DEFAULT_LINK_FAR) -> Grouping:
        """Group every face of the collection by person and store the grouping."""
        name = self._face_collection(collection)
        target = self.collections.get(name)
        model = self.collections.info(name).model
        threshold = load_calibration(model, model_folder=model_folder(model, self.encoder)).threshold(link_far)
        with self._exclusive(name):
            with self._lock:
                ids, vectors = target.items()
                photos = [f.photo_sha256 if f else "" for f in self.records.faces.get(name, ids.tolist())]
                pinned = self.records.grouping.pins(name)
                pins = np.array([pinned.get(int(i), "") for i in ids], dtype=object)
                labels = group_faces(vectors, threshold, photos=np.array(photos), min_size=max(min_size, 1), pins=pins)
                version = self.records.grouping.save(name, {int(i): int(g) for i, g in zip(ids, labels) if g != UNASSIGNED}, threshold, min_size)
                group_ids, means = group_vectors(vectors, labels)
                self.assigner.remember(name, version, group_ids, means, threshold)
            self._assign_newcomers(name, set(ids.tolist()))
        return self.groups(collection)

    def _assign_newcomers(self, collection: str, clustered: set[int]) -> None:
        """Faces this clustering did not see (indexed meanwhile, perhaps on another server, whose
        groups the new grouping just replaced) join its nearest groups, as if indexed after it."""
        unseen = [i for i in self.records.faces.ids(collection) if i not in clustered]
        newcomers = [f for f in self.records.faces.get(collection, unseen) if f is not None]
        if newcomers:
            self.assigner.assign_new(collection, [f.face_id for f in newcomers], np.stack([f.vector for f in newcomers]))

    def groups(self, collection: str) -> Grouping:
        """The stored grouping: each group's faces, largest group first."""
        name = self._face_collection(collection)
        target = self.collections.get(name)
        grouped = self.records.grouping.groups(name)
        clustering = self.records.grouping.clustering(name)
        members: dict[int, list[FaceRecord]] = {}
        for record in self.records.faces.get(name, list(grouped)):
            if record is not None:
                members.setdefault(grouped[record.face_id], []).append(record)
        ordered = sorted(members.items(), key=lambda item: (-len(item[1]), item[0]))
        pins = self.records.grouping.pins(name)
        names = {}
        for group_id, faces in ordered:
            labels = {pins.get(f.face_id, "") for f in faces}
            named = sorted(p for p in labels if _is_name(p))
            if named:
                names[group_id] = named[0]
        return Grouping(ordered, target.count() - sum(len(m) for m in members.values()), clustering.threshold if clustering else float("nan"), names)

    # --- corrections -------------------------------------------------------------------------

    def _members(self, collection: str, group_id: int) -> list[int]:
        members = [f for f, g in self.records.grouping.groups(collection).items() if g == group_id]
        if not members:
            raise CollectionNotFound(f"no group {group_id} in collection {collection!r}")
        return members

    def _pin(self, collection: str, faces: list[int], label: str, groups: dict[int, int], action: dict) -> None:
        pins = self.records.grouping.pins(collection)
        grouped = self.records.grouping.groups(collection)
        action["before"] = {str(f): [pins.get(f, ""), grouped.get(f, UNASSIGNED)] for f in set(faces) | set(groups)}
        self.records.grouping.apply_correction(collection, {f: label for f in faces}, groups, action)
        self.assigner.forget(collection)

    def merge(self, collection: str, group_id: int, other_group_id: int) -> Grouping:
        """Put two groups together for good: every face of both gets one pin."""
        name = self._face_collection(collection)
        with self._exclusive(name), self._lock:
            keep, other = self._members(name, group_id), self._members(name, other_group_id)
            pins = self.records.grouping.pins(name)
            named = sorted({pins.get(f, "") for f in keep + other} - {""}, key=lambda p: (not _is_name(p), p))
            label = named[0] if named else f"~merge-{uuid.uuid4().hex[:12]}"
            self._pin(name, keep + other, label, {f: group_id for f in other}, {"action": "merge"})
        return self.groups(collection)

    def split(self, collection: str, face_id: int) -> Grouping:
        """Take a face out of its group for good: it and the rest are pinned apart."""
        name = self._face_collection(collection)
        with self._exclusive(name), self._lock:
            grouped = self.records.grouping.groups(name)
            if face_id not in grouped:
                raise CollectionNotFound(f"face {face_id} is in no group of collection {collection!r}")
            group_id = grouped[face_id]
            rest = [f for f, g in grouped.items() if g == group_id and f != face_id]
            pins = self.records.grouping.pins(name)
            label = pins.get(rest[0], "") if rest and pins.get(rest[0]) else f"~group-{uuid.uuid4().hex[:12]}"
            new_group = max(grouped.values()) + 1
            action = {"action": "split"}
            self._pin(name, rest, label, {face_id: new_group}, action)
            self.records.grouping.apply_correction(name, {face_id: f"~split-{face_id}"}, {}, {})
        return self.groups(collection)

    def name(self, collection: str, group_id: int, subject_id: str) -> Grouping:
        """Name a group: its faces are pinned to the subject id, and the gate enrolls them."""
        name = self._face_collection(collection)
        model = self.collections.info(name).model
        if model != self.gate.model:  # same length or not, vectors of two models are not comparable
            raise NoUsableFace(f"collection {name!r} holds {model} faces and the gate uses {self.gate.model}: its faces cannot be enrolled")
        with self._exclusive(name), self._lock:
            members = self._members(name, group_id)
            naming = self.gate.enroll_named_group(subject_id, [f for f in self.records.faces.get(name, members) if f])
            self._pin(name, members, subject_id, {}, {"action": "name", "subject": naming.subject_id,
                                                      "created": naming.created, "templates": naming.template_ids})
        return replace(self.groups(collection), naming=naming)

    def undo(self, collection: str) -> Grouping:
        """Take back the last correction."""
        name = self._face_collection(collection)
        with self._exclusive(name), self._lock:
            record = self.records.grouping.pop_correction(name)
            if record is None:
                raise NothingToUndo(f"no correction to undo in collection {collection!r}")
            before = {int(f): value for f, value in record["before"].items()}
            self.records.grouping.apply_correction(
                name, {f: pin for f, (pin, _) in before.items()},
                {f: g for f, (_, g) in before.items() if g != UNASSIGNED}, {},
            )
            if record["action"] == "name" and not is_pseudonym(record["subject"]):  # a pseudonym: forgotten since
                # Exactly the templates the naming added; the subject itself only if the naming made it
                # and nothing was enrolled for it since.
                self.gate.remove_templates(record["subject"], record.get("templates", []), forget_if_empty=record.get("created", False))
            self.assigner.forget(name)
        return self.groups(collection)
