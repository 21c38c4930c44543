"""`facegrid enroll --roster`: a campus enrolled from a roster export (CSV), in parallel, resumable, with `--sync`.

The server holds the state: before a photo is sent, its SHA-256 is compared with the subject's templates
(GetSubject), so a re-run sends only what is new and an interrupted run carries on where it stopped; nothing
is kept on this machine. `--sync` makes the server's subjects follow the export: those absent are suspended
(marked ROSTER_SYNC, so that only these are reactivated when they come back), and each subject's groups
become the export's. Reading the file and the summary: server/domain/roster_file.py and roster_summary.py (pure
code, shared with the console's roster import).
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import grpc

from .door_results import SubjectInfo
from .progress import progress_bar
from .results import PhotoOutcome
from facegrid.server.domain.roster_file import Roster, RosterError, RosterProblem, RosterRow
from facegrid.server.domain.roster_summary import RefusedPhoto, Resemblance, RosterSummary, SubjectRun
from .sdk import Facegrid, FacegridError

ROSTER_SYNC = "roster sync: absent from the export"  # status_reason of a suspension by --sync (only those come back)
MAX_PHOTOS_PER_CALL = 20  # the server's limit per Enroll call
# The key or the server is the trouble, not this row: stop the run (exit 2) instead of refusing row after row.
FATAL = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAUTHENTICATED,
         grpc.StatusCode.PERMISSION_DENIED}


class ServerTrouble(Exception):
    """The server cannot be reached, or refuses the key: the run stops (what was sent is kept there)."""

    def __init__(self, error: FacegridError, doing: str) -> None:
        super().__init__(f"{error.code.name}: {error.message} ({doing})")
        self.error = error


@dataclass(frozen=True)
class RosterOptions:
    """How `facegrid enroll --roster` runs: workers, dry run, sync and what it may forget or replace."""

    workers: int = 4
    dry_run: bool = False
    sync: bool = False
    forget_missing: bool = False
    replace: bool = False


@dataclass(frozen=True)
class _Photo:
    name: str  # as in the roster
    data: bytes
    sha256: str


def _fetched(client: Facegrid, subject_id: str) -> tuple[SubjectInfo | None, set[str]]:
    """The subject as the server holds it and the SHA-256 of its enrolled photos; (None, empty) when the server has
    no subject of that id. An id the server's rule refuses is its INVALID_ARGUMENT (FacegridError)."""
    try:
        subject = client.subject(subject_id)
    except FacegridError as error:
        if error.code == grpc.StatusCode.NOT_FOUND:
            return None, set()
        raise
    return subject, {t.photo_sha256 for t in subject.templates}


def _photos(row: RosterRow, folder: Path, run: SubjectRun) -> list[_Photo]:
    """The row's photos read and hashed, each content once; those that cannot be read are refused on the run."""
    photos, seen = [], set()
    for name in row.photos:
        try:
            data = (folder / name).read_bytes()
        except OSError as error:
            run.refused.append(RefusedPhoto(row.subject_id, name, "FILE_NOT_READ",
                                            f"cannot read {folder / name}: {error.strerror or error}"))
            continue
        digest = hashlib.sha256(data).hexdigest()
        if digest not in seen:
            seen.add(digest)
            photos.append(_Photo(name, data, digest))
    return photos


def _sent(client: Facegrid, row: RosterRow, photos: list[_Photo], groups: tuple[str, ...]) -> list[PhotoOutcome]:
    """Enroll these photos (at most MAX_PHOTOS_PER_CALL); each one's outcome, refused ones included."""
    try:
        return client.enroll(row.subject_id, [p.data for p in photos], row.name, groups).photos
    except FacegridError as error:
        if error.outcomes:  # no photo accepted: each one's reason came with the error
            return error.outcomes
        raise


def _outcomes(row: RosterRow, photos: list[_Photo], outcomes: list[PhotoOutcome], run: SubjectRun) -> list[_Photo]:
    """Record an Enroll call's outcomes on the run; the photos refused as unlike the subject's enrolled ones."""
    unlike = []
    for photo, outcome in zip(photos, outcomes):
        if outcome.accepted:
            (run.skipped if outcome.duplicate else run.enrolled).append(photo.name)
            if outcome.resembles:
                run.resembles.append(Resemblance(row.subject_id, photo.name, outcome.resembles))
        else:
            run.refused.append(RefusedPhoto(row.subject_id, photo.name, outcome.issue or "REFUSED", outcome.reason))
            if outcome.issue == "NOT_LIKE_SUBJECT":
                unlike.append(photo)
    return unlike


def _replace(client: Facegrid, row: RosterRow, photos: list[_Photo], unlike: list[_Photo], run: SubjectRun) -> None:
    """Send all the row's photos again with replace (an admin key): the subject's templates become exactly these."""
    if len(photos) > MAX_PHOTOS_PER_CALL:
        run.problem = f"cannot replace with {len(photos)} photos: at most {MAX_PHOTOS_PER_CALL} go in one call"
        return
    try:
        result = client.enroll(row.subject_id, [p.data for p in photos], row.name, replace=True)
    except FacegridError as error:
        if error.code in FATAL:
            raise ServerTrouble(error, f"replacing the photos of {row.subject_id} needs an admin key"
                                if error.code == grpc.StatusCode.PERMISSION_DENIED else f"replacing {row.subject_id}")
        if not error.outcomes:
            raise
        return  # nothing was accepted, so nothing replaced: the first call's refusals stand
    taken = {p.name for p, o in zip(photos, result.photos) if o.accepted}
    run.replaced = [p.name for p in unlike if p.name in taken]
    run.refused = [r for r in run.refused if not (r.issue == "NOT_LIKE_SUBJECT" and r.photo in taken)]
    run.enrolled += run.replaced
    run.templates_removed = result.templates_removed


def _access(client: Facegrid, row: RosterRow, held: SubjectInfo, options: RosterOptions, run: SubjectRun) -> None:
    """Bring an enrolled subject's groups (and, with --sync, its status) in line with the row."""
    current = tuple(sorted(held.groups))
    wanted = current
    if row.groups is not None:
        wanted = tuple(sorted(set(row.groups) if options.sync else set(current) | set(row.groups)))
    reactivate = options.sync and not held.active and held.status_reason == ROSTER_SYNC
    run.groups_updated, run.reactivated = wanted != current, reactivate
    if not (run.groups_updated or reactivate) or options.dry_run:
        return
    client.update_subject(row.subject_id, list(wanted) if run.groups_updated else None, False if reactivate else None)


def enroll_row(client: Facegrid, roster: Roster, row: RosterRow, options: RosterOptions) -> SubjectRun:
    """One roster row against the server: what it holds, the photos it lacks sent, groups and status set."""
    run = SubjectRun(row.subject_id)
    try:
        held, known = _fetched(client, row.subject_id)
        photos = _photos(row, roster.photos_dir, run)
        new = [p for p in photos if p.sha256 not in known]
        run.skipped += [p.name for p in photos if p.sha256 in known]
        if held is None and not new:
            run.problem = "not enrolled, and no photo of this row can be sent"
            return run
        if options.dry_run:
            run.enrolled, run.created = [p.name for p in new], held is None
            if held is not None:
                _access(client, row, held, options, run)
            return run
        unlike: list[_Photo] = []
        for start in range(0, len(new), MAX_PHOTOS_PER_CALL):
            chunk = new[start : start + MAX_PHOTOS_PER_CALL]
            groups = (row.groups or ()) if held is None else ()  # a new subject is made with its groups
            outcomes = _sent(client, row, chunk, groups)
            unlike += _outcomes(row, chunk, outcomes, run)
            if held is None and any(o.accepted for o in outcomes):
                run.created = True
        if unlike and options.replace:
            _replace(client, row, photos, unlike, run)
        if held is not None:
            _access(client, row, held, options, run)
    except FacegridError as error:
        if error.code in FATAL:
            raise ServerTrouble(error, f"at {row.subject_id}") from None
        run.problem = f"{error.code.name}: {error.message}"
    return run


def sync_missing(client: Facegrid, roster: Roster, options: RosterOptions, summary: RosterSummary) -> None:
    """Subjects on the server that the export lacks: suspended (marked ROSTER_SYNC), or forgotten with
    forget_missing. In the export but suspended by someone else (not a sync): listed, left as they are."""
    for subject in list(client.subjects(page_size=1000)):
        if subject.subject_id in roster.ids:
            if not subject.active and subject.status_reason != ROSTER_SYNC:
                summary.left_suspended.append(subject.subject_id)
            continue
        if not options.forget_missing and not subject.active:
            continue  # suspended already
        try:
            if options.forget_missing and not options.dry_run:
                client.forget(subject.subject_id)
            elif not options.dry_run:
                client.update_subject(subject.subject_id, suspended=True, status_reason=ROSTER_SYNC)
        except FacegridError as error:
            if error.code in FATAL:
                raise ServerTrouble(error, f"syncing {subject.subject_id}") from None
            summary.problems.append(RosterProblem(0, subject.subject_id, f"{error.code.name}: {error.message}"))
            continue
        (summary.forgotten if options.forget_missing else summary.suspended).append(subject.subject_id)


def run_roster(client: Facegrid, roster: Roster, options: RosterOptions) -> RosterSummary:
    """Every row, `options.workers` at a time (one call per subject, each with its own photos), then --sync; the summary.

    Server trouble stops the run: the summary says so (error) with what was done until then."""
    if options.sync and not roster.ids:
        raise RosterError("the roster lists nobody: --sync would suspend every subject")
    summary = RosterSummary(dry_run=options.dry_run, subjects=len(roster.rows), photos=roster.photo_count,
                            problems=list(roster.problems))
    bar = progress_bar(roster.photo_count, "photo")
    try:
        with ThreadPoolExecutor(max_workers=max(1, options.workers)) as pool:
            pending = {pool.submit(enroll_row, client, roster, row, options): row for row in roster.rows}
            try:
                for done in as_completed(pending):
                    run = done.result()
                    summary.add(run)  # here, in the calling thread: the workers only return their SubjectRun
                    bar.update(len(pending[done].photos))
                    bar.set_postfix(enrolled=summary.enrolled, refused=len(summary.refused))
            except ServerTrouble:
                for future in pending:
                    future.cancel()
                raise
        if options.sync:
            sync_missing(client, roster, options, summary)
    except ServerTrouble as trouble:
        summary.error = str(trouble)
    except FacegridError as error:
        summary.error = f"{error.code.name}: {error.message}"
    finally:
        bar.close()
    return summary
