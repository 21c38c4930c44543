"""The gate: enroll, verify, identify and forget, over the encoder, a FAISS collection and Redis.

Plain library code (no gRPC): the gRPC adapter, `facegrid eval openset` and the
benchmarks all call this. Redis holds every template; the collection holds one
vector per subject (the normalised mean of its templates, under the subject's
number) and is rebuilt from Redis on start. Other servers on the same Redis change
subjects too: their changes arrive through the change feed (`refresh`, `drop`).
Each subject's vector is set from what Redis holds after a write, never from what
this server believes it holds, so changes from several servers end in one state.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field

import numpy as np

from facegrid.encoder.errors import EncoderError
from facegrid.encoder.pipeline import Face, FacePipeline
from facegrid.index.collection import Collection
from facegrid.index.identify import Decision, Policy, identify, subject_vector, verify

from ..store.subjects import NewTemplate, StoredTemplates, SubjectRecord, SubjectStore, TemplateRecord
from .enrollment import EnrollmentRules, normalise_subject_id
from .errors import NoUsableFace, SubjectNotFound


@dataclass
class PhotoOutcome:
    index: int
    accepted: bool
    template_id: int | None = None
    reason: str = ""
    warnings: list[str] = field(default_factory=list)
    duplicate: bool = False
    face: Face | None = None


@dataclass
class Enrollment:
    subject: SubjectRecord
    photos: list[PhotoOutcome]
    templates: int


@dataclass
class Verification:
    decision: Decision
    face: Face


@dataclass
class Identified:
    subject_id: str | None
    margin: float
    decision: Decision | None
    candidates: list[tuple[str, float]]
    face: Face
    reason: str


def photo_digest(photo: bytes) -> str:
    return hashlib.sha256(photo).hexdigest()


class Gate:
    """Enrollment and 1:1 / 1:N decisions for one face model."""

    def __init__(
        self,
        metadata: SubjectStore,
        pipeline: FacePipeline,
        policy: Policy,
        rules: EnrollmentRules = EnrollmentRules(),
    ) -> None:
        self.metadata = metadata
        self.pipeline = pipeline
        self.model = pipeline.model.name
        self.policy = policy
        self.rules = rules
        self.subjects = Collection(f"subjects:{self.model}", pipeline.model.dim)
        # Writes to Redis and the collection happen under one lock so they stay in step.
        self._write_lock = threading.Lock()
        self.skipped_templates = 0  # of another model, found at rebuild

    # --- start-up ------------------------------------------------------------------------

    def rebuild(self) -> int:
        """Refill the collection from Redis (the system of record); how many subjects it holds.

        Identify calls meanwhile see the old contents until the new ones replace them at once."""
        with self._write_lock:
            skipped = 0
            numbers, vectors = [], []
            for record, templates in self.metadata.everything():
                skipped += sum(t.model != self.model for t in templates)
                vector = self._subject_vector(templates)
                if vector is not None:
                    numbers.append(record.number)
                    vectors.append(vector)
            stacked = np.stack(vectors) if vectors else np.zeros((0, self.subjects.dim), np.float32)
            self.subjects.replace(np.array(numbers, dtype=np.int64), stacked)
            self.skipped_templates = skipped
            return self.subjects.count()

    def refresh(self, subject_id: str, number: int | None = None) -> None:
        """Bring one subject's vector in line with Redis (another server changed it); `number`, the
        number it was changed under, goes if the subject now has another one or none."""
        with self._write_lock:
            self._refresh(subject_id, number)

    def drop(self, number: int) -> None:
        """A subject forgotten (on another server): its number leaves the collection."""
        with self._write_lock:
            self.subjects.remove([number])

    def _refresh(self, subject_id: str, number: int | None = None) -> SubjectRecord | None:
        """Set the subject's vector from its templates in Redis (write lock held); its record."""
        record = self.metadata.subject(subject_id)
        if number is not None and (record is None or record.number != number):
            self.subjects.remove([number])
        if record is None:
            return None
        vector = self._subject_vector(self.metadata.templates(subject_id))
        if vector is None:
            self.subjects.remove([record.number])
        else:
            self.subjects.add([record.number], vector)
        return record

    def _subject_vector(self, templates: list) -> np.ndarray | None:
        """The subject's vector from its templates (stored or new) of this gate's model."""
        usable = [t.vector for t in templates if t.model == self.model]
        return subject_vector(np.stack(usable)) if usable else None

    def _store(self, subject_id: str, fresh: list[NewTemplate], display_name: str = "") -> StoredTemplates:
        """Write new templates to Redis (one per photo, atomically), then the subject's vector as
        Redis now holds it (another server may have added templates too) to the collection (write lock held)."""
        stored = self.metadata.add_templates(subject_id, fresh, display_name)
        self._refresh(subject_id, stored.subject.number)
        return stored

    # --- the four operations -------------------------------------------------------------

    def enroll(self, subject_id: str, photos: list[bytes], display_name: str = "") -> Enrollment:
        """Add one template per acceptable photo; refused photos come back with the reason."""
        subject_id = normalise_subject_id(subject_id)
        if not photos:
            raise NoUsableFace("no photo given")
        outcomes: list[PhotoOutcome] = []
        fresh: list[tuple[PhotoOutcome, NewTemplate]] = []
        for index, photo in enumerate(photos):
            outcome = PhotoOutcome(index=index, accepted=False)
            outcomes.append(outcome)
            digest = photo_digest(photo)
            known = self.metadata.template_for_photo(subject_id, digest, self.model)  # saves embedding it again
            if known is not None:
                outcome.accepted, outcome.template_id, outcome.duplicate = True, known, True
                continue
            try:
                faces = self.pipeline.faces(photo)
            except EncoderError as error:
                outcome.reason = f"unreadable photo: {error}"
                continue
            refusal = self.rules.refusal(faces)
            if refusal:
                outcome.reason = refusal
                outcome.face = faces[0] if len(faces) == 1 else None
                continue
            outcome.face = faces[0]
            fresh.append((outcome, NewTemplate(self.model, faces[0].vector, digest, faces[0].quality)))
        if not any(o.accepted for o in outcomes) and not fresh:
            raise NoUsableFace("; ".join(f"photo {o.index}: {o.reason}" for o in outcomes))

        with self._write_lock:
            if not fresh and self.metadata.subject(subject_id) is None:
                stored = None  # its photos were enrolled, but the subject has been forgotten since
            else:
                existing = self.metadata.templates(subject_id)
                self._warn_unlike(existing, fresh)
                stored = self._store(subject_id, [t for _, t in fresh], display_name)
        if stored is None:
            return self.enroll(subject_id, photos, display_name)  # start again: now every photo is new
        for (outcome, _), template_id, created in zip(fresh, stored.template_ids, stored.created):
            # Not created: the photo came twice in this call, or another call enrolled it meanwhile.
            outcome.accepted, outcome.template_id, outcome.duplicate = True, template_id, not created
        return Enrollment(stored.subject, outcomes, stored.total)

    def _warn_unlike(self, existing: list[TemplateRecord], fresh: list[tuple[PhotoOutcome, NewTemplate]]) -> None:
        others = [t.vector for t in existing if t.model == self.model] + [t.vector for _, t in fresh]
        if len(others) < 2:
            return
        limit = self.policy.calibration.threshold(self.rules.unlike_far)
        for outcome, template in fresh:
            rest = [v for v in others if v is not template.vector]
            score = float(template.vector @ subject_vector(np.stack(rest)))
            if score < limit:
                outcome.warnings.append(
                    f"unlike this subject's other photos (score {score:.3f}, below {limit:.3f}): is it the same person?"
                )

    def enroll_faces(self, subject_id: str, faces: list, most: int = 5) -> bool:
        """Enroll already-embedded faces (a named photo-library group): the `most` sharpest, largest ones.

        Returns whether the subject was created by this call.
        """
        subject_id = normalise_subject_id(subject_id)
        usable = [f for f in faces if len(f.vector) == self.subjects.dim]
        usable.sort(key=lambda f: (-f.quality.size, -f.quality.sharpness))
        with self._write_lock:
            known = {t.photo_sha256 for t in self.metadata.templates(subject_id) if t.model == self.model}
            fresh = [NewTemplate(self.model, f.vector, f.photo_sha256, f.quality) for f in usable[:most] if f.photo_sha256 not in known]
            # Whether it created the subject is decided in the store's transaction, not by a read before it.
            return bool(fresh) and self._store(subject_id, fresh).new_subject

    def verify(self, subject_id: str, photo: bytes) -> Verification:
        """1:1: is the largest face in the photo this subject?"""
        subject_id = normalise_subject_id(subject_id)
        record = self.metadata.subject(subject_id)
        if record is None:
            raise SubjectNotFound(f"no subject {subject_id!r}")
        face = self._probe(photo)
        vector = self.subjects.vector(record.number)
        if vector is None:
            raise NoUsableFace(f"subject {subject_id!r} has no templates for model {self.model}; enroll again")
        return Verification(verify(face.vector, vector, self.policy), face)

    def identify(self, photo: bytes, candidates: int = 5) -> Identified:
        """1:N open-set: who the largest face in the photo is, or unknown."""
        face = self._probe(photo)
        result = identify(face.vector, self.subjects, self.policy, candidates)
        known = self.metadata.subject_ids_of([c.subject for c in result.candidates])
        names = [(known.get(c.subject, f"#{c.subject}"), c.score) for c in result.candidates]
        subject_id = known.get(result.subject) if result.subject is not None else None
        return Identified(subject_id, result.margin, result.decision, names, face, result.reason)

    def forget(self, subject_id: str) -> int:
        """Delete a subject and its templates everywhere; how many templates went."""
        subject_id = normalise_subject_id(subject_id)
        with self._write_lock:
            deleted = self.metadata.delete_subject(subject_id)
            if deleted is None:
                raise SubjectNotFound(f"no subject {subject_id!r}")
            record, removed = deleted
            self.subjects.remove([record.number])
        return removed

    def subject(self, subject_id: str) -> tuple[SubjectRecord, list[TemplateRecord]]:
        subject_id = normalise_subject_id(subject_id)
        record = self.metadata.subject(subject_id)
        if record is None:
            raise SubjectNotFound(f"no subject {subject_id!r}")
        return record, self.metadata.templates(subject_id)

    def _probe(self, photo: bytes) -> Face:
        faces = self.pipeline.faces(photo)
        if not faces:
            raise NoUsableFace("no face found in the photo")
        return max(faces, key=lambda f: f.quality.size)
