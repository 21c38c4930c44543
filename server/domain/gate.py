"""The gate: enroll, verify, identify and forget, over the encoder, a vector store (FAISS or Milvus) and Redis.

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
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from facegrid.encoder.detect import probe_detector
from facegrid.encoder.errors import EncoderError
from facegrid.encoder.pipeline import Face
from facegrid.encoder.ports import FaceEncoder
from facegrid.index.errors import EngineUnavailable
from facegrid.index.identify import Decision, Policy, UnknownReason, identify, subject_vector, verify
from facegrid.index.stores import VectorStores

from ..store.subjects import NewTemplate, SkeletonTaken, StoredTemplates, SubjectRecord, SubjectStore, TemplateRecord
from .confusables import mixed_scripts, skeleton, skeleton_digest
from .enrollment import EnrollmentRules, normalise_subject_id
from .engine_catch_up import caught_up, refilling
from .errors import CallerGone, ConfusableSubjectId, EnrollmentRefused, InvalidSubjectId, NoUsableFace, SubjectNotFound
from .crowd import largest_and_others
from .groups import group_names
from .probe_rules import ProbeRules
from .refusals import PhotoIssue, Refusal

StillWanted = Callable[[], bool]  # False once the caller has gone (cancelled, or its deadline passed)


def _always() -> bool:
    return True


@dataclass
class PhotoOutcome:
    """What became of one photo of an enrollment: its template, or why it was refused."""

    index: int
    accepted: bool
    template_id: int | None = None
    reason: str = ""
    warnings: list[str] = field(default_factory=list)
    duplicate: bool = False
    face: Face | None = None
    issue: PhotoIssue | None = None  # why it was refused, for a machine
    resembles: str = ""  # accepted, but as like this other subject as Identify's threshold (flagged, never merged)


@dataclass
class NamedFace:
    """What became of one face of a named photo-library group."""

    face_id: int
    accepted: bool = False
    template_id: int | None = None
    reason: str = ""
    warnings: list[str] = field(default_factory=list)


@dataclass
class NamedEnrollment:
    """What naming a photo-library group enrolled at the gate (Undo removes exactly this)."""

    subject_id: str
    created: bool  # the subject did not exist before the naming
    template_ids: list[int]  # exactly the templates the naming added (Undo removes these)
    faces: list[NamedFace]


@dataclass
class Enrollment:
    """The result of Enroll: the subject, each photo's outcome and how many templates it now has."""

    subject: SubjectRecord
    photos: list[PhotoOutcome]
    templates: int
    removed: int = 0  # with replace: the older templates removed


@dataclass
class Verification:
    """The result of Verify: the decision on the compared face, with what is wrong with the probe."""

    decision: Decision
    face: Face
    issue: Refusal | None = None  # what is wrong with the probe, where the probe rule only reports
    other_faces: int = 0  # faces of usable size besides the one compared (only a `full` caller gets an answer then)
    enrolled: bool = True  # False: the subject is unknown (or has no template of this model), compared with the decoy


@dataclass
class Identified:
    """The result of Identify: the subject named (or None for unknown), the evidence and why."""

    subject_id: str | None
    margin: float
    decision: Decision | None
    candidates: list[tuple[str, float]]
    face: Face
    reason: str
    why: UnknownReason | None = None  # set when unknown
    issue: Refusal | None = None  # what is wrong with the probe, where the probe rule only reports
    other_faces: int = 0  # as in Verification


@dataclass(frozen=True)
class Probe:
    """The face of a probe photo that is compared, and what else the photo showed."""

    face: Face
    issue: Refusal | None  # what is wrong with it, where the probe rule only reports
    other_faces: int  # faces of usable size besides it


def photo_digest(photo: bytes) -> str:
    """The hex SHA-256 of a photo's bytes: how a photo is known again (re-enrolling it is a no-op)."""
    return hashlib.sha256(photo).hexdigest()


def _confusable(subject_id: str, existing: str) -> ConfusableSubjectId:
    return ConfusableSubjectId(f"subject id {subject_id!r} looks like the enrolled subject {existing!r} (same skeleton "
                               f"{skeleton(subject_id)!r}): enroll under {existing!r}, or choose an id that does not look "
                               f"like it", existing)


class Gate:
    """Enrollment and 1:1 / 1:N decisions for one face model."""

    def __init__(
        self,
        subject_store: SubjectStore,
        pipeline: FaceEncoder,  # a FacePipeline here, the encoder servers in the index role
        policy: Policy,
        rules: EnrollmentRules = EnrollmentRules(),
        probe_rules: ProbeRules = ProbeRules(),
        stores: VectorStores | None = None,
        on_forget: Callable[[str], None] | None = None,
    ) -> None:
        self.subject_store = subject_store  # the subjects and their templates in Redis (the system of record)
        # Told the id of each subject forgotten here, once Redis no longer holds it: the scrub of the files, the
        # subject's names in photo collections (wired in main.py).
        self.on_forget = on_forget or (lambda subject_id: None)
        self.pipeline = pipeline
        self.model = pipeline.model.name
        self.policy = policy
        self.rules = rules
        self.probe_rules = probe_rules
        # Probes skip the detector cascade's slow last resort (MMOD): "no face" must fit a gate's budget.
        self.probe_detector = probe_detector(pipeline.detector)
        # One vector per subject (the normalised mean of its templates) under the subject's number, derived from Redis.
        self.subject_vectors = (stores or VectorStores()).open(f"subjects:{self.model}", pipeline.model.dim)
        # What a probe for an unknown subject (Verify, or a door's card) is compared with, so that it costs what a
        # known subject's does: a fixed random unit vector, far below any threshold from every face.
        decoy = np.random.default_rng(20).standard_normal(pipeline.model.dim).astype(np.float32)
        self.decoy = decoy / np.linalg.norm(decoy)
        # Writes to Redis and the collection happen under one lock so they stay in step.
        self._write_lock = threading.Lock()
        self.skipped_templates = 0  # of another model, found at rebuild

    # --- start-up ------------------------------------------------------------------------

    def rebuild(self) -> int:
        """Refill the collection from Redis (the system of record); how many subjects it holds.

        Identify calls meanwhile see the old contents until the new ones replace them at once."""
        with self._write_lock:
            return self._rebuild()

    def catch_up(self) -> int:
        """After the vector engine was unreachable: each subject whose write did not reach it is set again as Redis
        holds it now (gone, if it was forgotten meanwhile), or everything when too many were; how many were set."""
        with self._write_lock:
            return caught_up(self.subject_vectors, self._rebuild, self._sync_numbers)

    def _sync_numbers(self, numbers: list[int]) -> None:
        """These subject numbers as Redis holds them now (write lock held): set, or removed where none is."""
        subject_ids = self.subject_store.subject_ids_of(numbers)
        for number in numbers:
            if number in subject_ids:
                self._refresh(subject_ids[number], number)
            else:
                self.subject_vectors.remove([number])

    def _rebuild(self) -> int:
        """rebuild, with the write lock held."""
        skipped = 0
        numbers, vectors = [], []
        with refilling(self.subject_vectors):
            for record, templates in self.subject_store.everything():
                skipped += sum(t.model != self.model for t in templates)
                vector = self._subject_vector(templates)
                if vector is not None:
                    numbers.append(record.number)
                    vectors.append(vector)
            stacked = np.stack(vectors) if vectors else np.zeros((0, self.subject_vectors.dim), np.float32)
            self.subject_vectors.replace(np.array(numbers, dtype=np.int64), stacked)
        self.skipped_templates = skipped
        return self.subject_vectors.count()

    def refresh(self, subject_id: str, number: int | None = None) -> None:
        """Bring one subject's vector in line with Redis (another server changed it); `number`, the
        number it was changed under, goes if the subject now has another one or none."""
        with self._write_lock:
            self._refresh(subject_id, number)

    def drop(self, number: int) -> None:
        """A subject forgotten (on another server): its number leaves the collection."""
        with self._write_lock:
            self.subject_vectors.remove([number])

    def _refresh(self, subject_id: str, number: int | None = None) -> SubjectRecord | None:
        """Set the subject's vector from its templates in Redis (write lock held); its record."""
        record = self.subject_store.subject(subject_id)
        if number is not None and (record is None or record.number != number):
            self.subject_vectors.remove([number])
        if record is None:
            return None
        vector = self._subject_vector(self.subject_store.templates(subject_id))
        if vector is None:
            self.subject_vectors.remove([record.number])
        else:
            self.subject_vectors.add([record.number], vector)
        return record

    def _subject_vector(self, templates: list) -> np.ndarray | None:
        """The subject's vector from its templates (stored or new) of this gate's model."""
        usable = [t.vector for t in templates if t.model == self.model]
        return subject_vector(np.stack(usable)) if usable else None

    def _store(self, subject_id: str, fresh: list[NewTemplate], display_name: str = "",
               groups: tuple[str, ...] = ()) -> StoredTemplates:
        """Write new templates to Redis (one per photo, atomically), then the subject's vector as
        Redis now holds it (another server may have added templates too) to the collection (write lock held).
        A new subject claims its id's skeleton there: ConfusableSubjectId when a look-alike took it meanwhile."""
        try:
            stored = self.subject_store.add_templates(subject_id, fresh, display_name, groups, skeleton_digest(subject_id))
        except SkeletonTaken as taken:
            raise _confusable(subject_id, taken.owner) from None
        self._refresh(subject_id, stored.subject.number)
        return stored

    def check_new_subject_id(self, subject_id: str) -> None:
        """Before a subject is made: InvalidSubjectId for an id mixing scripts, ConfusableSubjectId for a look-alike of
        an enrolled id (domain/confusables.py). Subjects that exist are left as they are."""
        if self.subject_store.subject(subject_id) is not None:
            return
        mixed = mixed_scripts(subject_id)
        if mixed:
            raise InvalidSubjectId(f"subject id {subject_id!r} mixes scripts ({', '.join(sorted(mixed))}): it could pass "
                                   f"for another id; write it in one script")
        owner = self.subject_store.skeleton_owner(skeleton_digest(subject_id))
        if owner is not None and owner != subject_id:
            raise _confusable(subject_id, owner)

    # --- the four operations -------------------------------------------------------------

    def enroll(self, subject_id: str, photos: list[bytes], display_name: str = "",
               still_wanted: StillWanted = _always, groups: tuple[str, ...] = (), replace: bool = False) -> Enrollment:
        """Add one template per acceptable photo; refused photos come back with the reason. `groups` are added to
        the subject's (InvalidName for a bad one, before any photo is looked at).

        A new photo unlike the subject's enrolled ones is refused (NOT_LIKE_SUBJECT): an enroll key must not add
        someone else's face to a subject. With `replace` (an admin's call) it is taken, and once the new templates
        are stored every older template that is not one of this call's accepted photos is removed. Each new
        photo as like another subject as Identify's threshold is flagged with that subject (`resembles`)."""
        subject_id = normalise_subject_id(subject_id)
        groups = group_names(groups)
        if not photos:
            raise NoUsableFace("no photo given")
        self.check_new_subject_id(subject_id)
        outcomes: list[PhotoOutcome] = []
        fresh: list[tuple[PhotoOutcome, NewTemplate]] = []
        for index, photo in enumerate(photos):
            outcome = PhotoOutcome(index=index, accepted=False)
            outcomes.append(outcome)
            digest = photo_digest(photo)
            known = self.subject_store.template_for_photo(subject_id, digest, self.model)  # saves embedding it again
            if known is not None:
                outcome.accepted, outcome.template_id, outcome.duplicate = True, known, True
                continue
            if not still_wanted():
                raise CallerGone("the caller has gone; the rest of the photos were not embedded")
            try:
                faces = self.pipeline.faces(photo)
            except EncoderError as error:
                outcome.reason, outcome.issue = f"unreadable photo: {error}", PhotoIssue.UNREADABLE
                continue
            refusal = self.rules.check(faces)
            if refusal:
                outcome.reason, outcome.issue = refusal.reason, refusal.issue
                outcome.face = faces[0] if len(faces) == 1 else None
                continue
            outcome.face = faces[0]
            fresh.append((outcome, NewTemplate(self.model, faces[0].vector, digest, faces[0].quality)))
        if not any(o.accepted for o in outcomes) and not fresh:
            raise self._refused(subject_id, outcomes)

        removed = 0
        with self._write_lock:
            if not fresh and self.subject_store.subject(subject_id) is None:
                stored = None  # its photos were enrolled, but the subject has been forgotten since
            else:
                existing = self.subject_store.templates(subject_id)
                fresh = self._unlike_existing(existing, fresh, replace)
                if not any(o.accepted for o in outcomes) and not fresh:
                    raise self._refused(subject_id, outcomes)
                self._warn_unlike([] if replace else existing, fresh)
                self._flag_resembling(subject_id, fresh)
                stored = self._store(subject_id, [t for _, t in fresh], display_name, groups)
                if replace:  # the new templates are stored: only now do the old ones go
                    kept = {o.template_id for o in outcomes if o.accepted} | set(stored.template_ids)
                    older = [t.template_id for t in existing if t.template_id not in kept]
                    removed = len(self.subject_store.remove_templates(subject_id, older)) if older else 0
                    if removed:
                        self._refresh(subject_id, stored.subject.number)
        if stored is None:
            return self.enroll(subject_id, photos, display_name, still_wanted, groups, replace)  # start again: now every photo is new
        for (outcome, _), template_id, created in zip(fresh, stored.template_ids, stored.created):
            # Not created: the photo came twice in this call, or another call enrolled it meanwhile.
            outcome.accepted, outcome.template_id, outcome.duplicate = True, template_id, not created
        return Enrollment(stored.subject, outcomes, stored.total - removed, removed)

    def _refused(self, subject_id: str, outcomes: list[PhotoOutcome]) -> EnrollmentRefused:
        """No photo of the call was accepted: the error carrying each one's reason."""
        return EnrollmentRefused("; ".join(f"photo {o.index}: {o.reason}" for o in outcomes), subject_id, outcomes,
                                 len(self.subject_store.templates(subject_id)))

    def _unlike_existing(self, existing: list[TemplateRecord], fresh: list[tuple[PhotoOutcome, NewTemplate]],
                         replace: bool) -> list[tuple[PhotoOutcome, NewTemplate]]:
        """The new photos that may be stored: those like the subject's enrolled templates (below the `unlike_far`
        threshold against their mean is someone else, or a changed face), or all of them with `replace`, where
        the unlike ones say they replace the old ones (write lock held)."""
        enrolled = [t.vector for t in existing if t.model == self.model]
        if not enrolled:
            return fresh
        mean = subject_vector(np.stack(enrolled))
        limit = self.policy.calibration.threshold(self.rules.unlike_far)
        kept = []
        for outcome, template in fresh:
            score = float(template.vector @ mean)
            if score >= limit:
                kept.append((outcome, template))
            elif replace:
                outcome.warnings.append(f"unlike the subject's earlier photos (score {score:.3f}, below {limit:.3f}): "
                                        "they are replaced")
                kept.append((outcome, template))
            else:
                outcome.issue = PhotoIssue.NOT_LIKE_SUBJECT
                outcome.reason = (f"unlike the subject's enrolled photos (score {score:.3f}, below {limit:.3f}): someone "
                                  "else? A changed face needs an admin key to replace the old photos")
        return kept

    def _flag_resembling(self, subject_id: str, fresh: list[tuple[PhotoOutcome, NewTemplate]]) -> None:
        """Flag each new photo whose face scores Identify's threshold against another subject (the same face under a
        second id, e.g. a typo in a roster): a warning and that subject's id, never a merge (write lock held).

        Identify's threshold (target FAR / N), not Verify's: with N subjects, Verify's would flag some stranger
        for most photos of a large campus (about N x 0.001 of them score that high)."""
        try:
            subjects = self.subject_vectors.count() if fresh else 0  # one count: with Milvus it is a round trip
            if not subjects:
                return
            limit = self.policy.identification_threshold(subjects)
            hits = self.subject_vectors.search(np.stack([t.vector for _, t in fresh]), 2)  # the best two: one may be its own
        except EngineUnavailable:
            # Redis takes the enrollment while the vector engine is away (it is caught up later); only the flag waits.
            for outcome, _ in fresh:
                outcome.warnings.append("not checked against other subjects: the vector engine does not answer")
            return
        record = self.subject_store.subject(subject_id)
        own = record.number if record is not None else None
        best: list[tuple[int, float] | None] = []
        for scores, ids in zip(hits.scores, hits.ids):
            others = [(int(i), float(v)) for v, i in zip(scores, ids) if i >= 0 and int(i) != own]
            best.append(others[0] if others and others[0][1] >= limit else None)
        names = self.subject_store.subject_ids_of([b[0] for b in best if b is not None])
        for (outcome, _), found in zip(fresh, best):
            if found is not None and found[0] in names:
                outcome.resembles = names[found[0]]
                outcome.warnings.append(f"as like subject {names[found[0]]!r} as Identify's threshold (score {found[1]:.3f}, "
                                        f"threshold {limit:.3f}): the same person under two ids?")

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

    def enroll_named_group(self, subject_id: str, faces: list, most: int = 5) -> "NamedEnrollment":
        """Enroll a photo-library group named as a subject: the same rules as `enroll`, per face.

        Each face must pass the enrollment quality rules; a face unlike the group's other usable
        faces (below the `unlike_far` threshold against their mean) is refused, since no person
        looked at it and a clustering mistake must not become a gate template; a face unlike the
        subject's existing templates is taken with the same warning `enroll` gives. The `most`
        largest, sharpest usable faces are enrolled. NoUsableFace when none is usable (nothing changes).
        """
        subject_id = normalise_subject_id(subject_id)
        self.check_new_subject_id(subject_id)
        outcomes = [NamedFace(f.face_id) for f in faces]
        usable: list[tuple[NamedFace, object]] = []
        for outcome, face in zip(outcomes, faces):
            if len(face.vector) != self.subject_vectors.dim:
                outcome.reason = f"embedded with another model ({len(face.vector)} values, the gate uses {self.model})"
            else:
                outcome.reason = self.rules.quality_refusal(face.quality) or ""
            if not outcome.reason:
                usable.append((outcome, face))
        if len(usable) >= 3:  # with fewer, "unlike the others" has no majority to go by
            limit = self.policy.calibration.threshold(self.rules.unlike_far)
            vectors = np.stack([f.vector for _, f in usable])
            for index, (outcome, face) in enumerate(usable):
                score = float(face.vector @ subject_vector(np.delete(vectors, index, axis=0)))
                if score < limit:
                    outcome.reason = f"unlike the group's other faces (score {score:.3f}, below {limit:.3f})"
            usable = [(o, f) for o, f in usable if not o.reason]
        usable.sort(key=lambda item: (-item[1].quality.size, -item[1].quality.sharpness))
        for outcome, _ in usable[most:]:
            outcome.reason = f"not needed: the {most} best faces were enrolled"
        usable = usable[:most]
        if not usable:
            raise NoUsableFace("no face of the group can be enrolled: " + "; ".join(
                f"face {o.face_id}: {o.reason}" for o in outcomes[:10]))
        with self._write_lock:
            existing = self.subject_store.templates(subject_id)
            known = {t.photo_sha256 for t in existing if t.model == self.model}
            fresh: list[tuple[NamedFace, NewTemplate]] = []
            for outcome, face in usable:
                if face.photo_sha256 in known:  # this photo is enrolled already: nothing to add or undo
                    outcome.reason = "its photo is already enrolled for the subject"
                else:
                    fresh.append((outcome, NewTemplate(self.model, face.vector, face.photo_sha256, face.quality)))
            created = False
            if fresh:
                self._warn_unlike(existing, fresh)
                stored = self._store(subject_id, [t for _, t in fresh])
                created = stored.new_subject  # decided in the store's transaction, not by a read before it
                for (outcome, _), template_id, new in zip(fresh, stored.template_ids, stored.created):
                    if new:
                        outcome.accepted, outcome.template_id = True, template_id
                    else:  # enrolled meanwhile by another call: not this naming's to undo
                        outcome.reason = "its photo is already enrolled for the subject"
        return NamedEnrollment(subject_id, created, [o.template_id for o in outcomes if o.accepted], outcomes)

    def remove_templates(self, subject_id: str, template_ids: list[int], forget_if_empty: bool = False) -> int:
        """Take back exactly these templates (undoing a naming); the subject goes too when
        `forget_if_empty` and nothing else is left of it. How many templates were removed."""
        subject_id = normalise_subject_id(subject_id)
        with self._write_lock:
            removed = self.subject_store.remove_templates(subject_id, template_ids)
            # Only if still empty when deleted: another server may be enrolling it meanwhile.
            deleted = self.subject_store.delete_subject(subject_id, only_if_empty=True) if forget_if_empty else None
            if deleted is not None:
                self.subject_vectors.remove([deleted[0].number])
            else:
                self._refresh(subject_id)
        if deleted is not None:
            self.on_forget(subject_id)
        return len(removed)

    def verify(self, subject_id: str, photo: bytes, still_wanted: StillWanted = _always, full: bool = True) -> Verification:
        """1:1: is the largest face in the photo this subject?

        `full` False (a gate device's key): a second face of usable size refuses the photo (SEVERAL_FACES), and an
        unknown subject, or one without templates of this model, is answered as a known one that does not match,
        after the same work (the probe is embedded and compared with the decoy): neither the answer nor its time
        tells who is enrolled. `full`: SubjectNotFound at once, and the other faces are counted in the answer."""
        subject_id = normalise_subject_id(subject_id)
        record = self.subject_store.subject(subject_id)
        if record is None and full:
            raise SubjectNotFound(f"no subject {subject_id!r}")
        probe = self._probe(photo, still_wanted, refuse_others=not full)
        vector = self.subject_vectors.vector(record.number if record is not None else -1)  # the same lookup either way
        if vector is None and full:
            raise NoUsableFace(f"subject {subject_id!r} has no templates for model {self.model}; enroll again")
        decision = verify(probe.face.vector, vector if vector is not None else self.decoy, self.policy)
        return Verification(decision, probe.face, probe.issue, probe.other_faces, enrolled=vector is not None)

    def identify(self, photo: bytes, candidates: int = 5, still_wanted: StillWanted = _always, full: bool = True) -> Identified:
        """1:N open-set: who the largest face in the photo is, or unknown (`full` False: a second face refuses)."""
        probe = self._probe(photo, still_wanted, refuse_others=not full)
        return replace(self.identify_face(probe.face, candidates), issue=probe.issue, other_faces=probe.other_faces)

    def identify_face(self, face: Face, candidates: int = 5) -> Identified:
        """1:N open-set for a face already embedded (a door's burst): who it is, or unknown."""
        result = identify(face.vector, self.subject_vectors, self.policy, candidates)
        known = self.subject_store.subject_ids_of([c.subject for c in result.candidates])
        # Redis is the system of record: a number it no longer names (forgotten, the index not caught up yet) is no
        # one, and naming the next best instead would be a guess the threshold and margin never judged.
        names = [(known[c.subject], c.score) for c in result.candidates if c.subject in known]
        if result.subject is not None and result.subject not in known:
            return Identified(None, result.margin, result.decision, names, face,
                              "the best match is no longer enrolled (the index is catching up)", UnknownReason.NOT_ENROLLED)
        subject_id = known[result.subject] if result.subject is not None else None
        return Identified(subject_id, result.margin, result.decision, names, face, result.reason, result.why)

    def forget(self, subject_id: str) -> int:
        """Delete a subject and its templates everywhere; how many templates went."""
        subject_id = normalise_subject_id(subject_id)
        with self._write_lock:
            deleted = self.subject_store.delete_subject(subject_id)
            if deleted is None:
                raise SubjectNotFound(f"no subject {subject_id!r}")
            record, removed = deleted
            self.subject_vectors.remove([record.number])
        self.on_forget(subject_id)
        return removed

    def subject(self, subject_id: str) -> tuple[SubjectRecord, list[TemplateRecord]]:
        """A subject's record and templates (SubjectNotFound when there is none)."""
        subject_id = normalise_subject_id(subject_id)
        record = self.subject_store.subject(subject_id)
        if record is None:
            raise SubjectNotFound(f"no subject {subject_id!r}")
        return record, self.subject_store.templates(subject_id)

    def _probe(self, photo: bytes, still_wanted: StillWanted, refuse_others: bool = False) -> Probe:
        """The probe's largest face, embedded once it has passed the probe rule (and only while the caller
        still waits); with it, what is wrong with it where the rule only reports, and how many other faces of
        usable size the photo shows (`refuse_others`: any such face refuses the photo, SEVERAL_FACES)."""
        found = self.pipeline.find_faces(photo, self.probe_detector)
        if not found.detections:
            raise NoUsableFace(f"no face found in the photo (looked with {', '.join(found.detectors)})", PhotoIssue.NO_FACE)
        largest, others = largest_and_others([q.size for q in found.qualities], self.probe_rules.min_face_size)
        if others and refuse_others:
            raise NoUsableFace(f"{others + 1} people in the photo: one person at a time, please (someone behind them "
                               f"would pass on their face)", PhotoIssue.SEVERAL_FACES, found.qualities[largest],
                               found.detections[largest].box)
        issue = self.probe_rules.issue(found.qualities[largest])
        if issue is not None and self.probe_rules.refuses:
            raise NoUsableFace(issue.reason, issue.issue, found.qualities[largest], found.detections[largest].box)
        if not still_wanted():
            raise CallerGone("the caller has gone; the probe was not embedded")
        return Probe(self.pipeline.embed_one(found, largest), issue, others)
