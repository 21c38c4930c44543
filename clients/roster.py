"""`facegrid enroll --roster`: a campus enrolled from a roster export (CSV), in parallel, resumable, with `--sync`.

The server holds the state: before a photo is sent, its SHA-256 is compared with the subject's templates
(GetSubject), so a re-run sends only what is new and an interrupted run carries on where it stopped; nothing
is kept on this machine. `--sync` makes the server's subjects follow the export: those absent are suspended
(marked ROSTER_SYNC, so that only these are reactivated when they come back), and each subject's groups
become the export's.
"""

from __future__ import annotations

import csv
import hashlib
import sys
import threading
import time
import unicodedata
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

import grpc

from .door_results import SubjectInfo
from .results import PhotoOutcome
from .sdk import Facegrid, FacegridError

ROSTER_SYNC = "roster sync: absent from the export"  # status_reason of a suspension by --sync (only those come back)
MAX_PHOTOS_PER_CALL = 20  # the server's limit per Enroll call
LIST_SEPARATOR = ";"  # several photos or groups in one cell
# The key or the server is the trouble, not this row: stop the run (exit 2) instead of refusing row after row.
FATAL = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAUTHENTICATED,
         grpc.StatusCode.PERMISSION_DENIED}


class RosterError(Exception):
    """The roster cannot be used at all: unreadable, no header, a column missing."""


class ServerTrouble(Exception):
    """The server cannot be reached, or refuses the key: the run stops (what was sent is kept there)."""

    def __init__(self, error: FacegridError, doing: str) -> None:
        super().__init__(f"{error.code.name}: {error.message} ({doing})")
        self.error = error


# --- the roster file ------------------------------------------------------------------------

@dataclass(frozen=True)
class RosterColumns:
    """The header names of the roster's columns (matched without regard to case or surrounding spaces)."""

    id: str = "id"
    name: str = "name"
    photo: str = "photo"
    groups: str = "groups"


@dataclass(frozen=True)
class RosterRow:
    line: int  # in the file, the header being line 1
    subject_id: str  # NFC, as the server normalises it
    name: str
    photos: tuple[str, ...]  # as written, relative to the photos folder
    groups: tuple[str, ...] | None  # lower case; None where the roster has no groups column


@dataclass(frozen=True)
class RosterProblem:
    """A row (or a subject) that could not be taken as it is."""

    line: int  # 0 where it is not about one line of the file
    subject_id: str
    message: str


@dataclass
class Roster:
    rows: list[RosterRow]
    problems: list[RosterProblem]
    ids: set[str]  # every id in the export, its row usable or not: --sync never suspends these
    photos_dir: Path

    @property
    def photo_count(self) -> int:
        return sum(len(row.photos) for row in self.rows)


def split_cell(text: str) -> tuple[str, ...]:
    """'a.jpg; b.jpg;' -> ('a.jpg', 'b.jpg')."""
    return tuple(part.strip() for part in (text or "").split(LIST_SEPARATOR) if part.strip())


def read_roster(path: Path, photos_dir: Path, columns: RosterColumns = RosterColumns(),
                required: frozenset[str] = frozenset({"id", "photo"})) -> Roster:
    """The rows of a roster CSV (UTF-8, with or without Excel's BOM; a header row), each photo checked to exist.

    `required`: the columns (by field of RosterColumns) that must be in the header; the others are used where present."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            records = list(csv.reader(handle))
    except UnicodeDecodeError as error:
        raise RosterError(f"{path} is not UTF-8 text ({error.reason} at byte {error.start}): export it as "
                          "CSV UTF-8") from None
    except OSError as error:
        raise RosterError(f"cannot read {path}: {error.strerror or error}") from None
    if not records:
        raise RosterError(f"{path} is empty: a header row is needed ({columns.id},{columns.name},{columns.photo},...)")
    header = [cell.strip().lower() for cell in records[0]]
    where: dict[str, int | None] = {}
    for kind in ("id", "name", "photo", "groups"):
        wanted = getattr(columns, kind).strip().lower()
        where[kind] = header.index(wanted) if wanted in header else None
        if where[kind] is None and kind in required:
            hint = " (is the file separated by ';'? use ',')" if len(header) == 1 and LIST_SEPARATOR in header[0] else ""
            raise RosterError(f"{path} has no column {getattr(columns, kind)!r} (--{kind}-column); its header: "
                              f"{', '.join(records[0])}{hint}")

    def cell(record: list[str], kind: str) -> str:
        index = where[kind]
        return record[index].strip() if index is not None and index < len(record) else ""

    rows, problems, ids, first_line = [], [], set(), {}
    for line, record in enumerate(records[1:], start=2):
        if not any(c.strip() for c in record):
            continue  # a blank line (Excel leaves some at the end)
        subject_id = unicodedata.normalize("NFC", cell(record, "id"))
        if not subject_id:
            problems.append(RosterProblem(line, "", f"no {columns.id!r} on this line"))
            continue
        ids.add(subject_id)
        if subject_id in first_line:
            problems.append(RosterProblem(line, subject_id, f"the id is on line {first_line[subject_id]} already: "
                                                            "this line was not used"))
            continue
        first_line[subject_id] = line
        groups = tuple(g.lower() for g in split_cell(cell(record, "groups"))) if where["groups"] is not None else None
        rows.append(RosterRow(line, subject_id, cell(record, "name"), split_cell(cell(record, "photo")), groups))
    return Roster(rows, problems, ids, Path(photos_dir))


# --- what happened -------------------------------------------------------------------------

@dataclass(frozen=True)
class RefusedPhoto:
    subject_id: str
    photo: str
    issue: str  # the server's PhotoIssue name (NOT_LIKE_SUBJECT, NO_FACE, ...), FILE_NOT_READ, or the call's status
    reason: str


@dataclass(frozen=True)
class Resemblance:
    """An accepted photo as like another subject as Identify's threshold: flagged, never merged."""

    subject_id: str
    photo: str
    other: str


@dataclass
class SubjectRun:
    """What became of one roster row."""

    subject_id: str
    created: bool = False
    enrolled: list[str] = field(default_factory=list)  # new templates (in a dry run: photos that would be sent)
    skipped: list[str] = field(default_factory=list)  # the server has them already
    refused: list[RefusedPhoto] = field(default_factory=list)
    resembles: list[Resemblance] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)  # taken with replace (an admin's key)
    templates_removed: int = 0
    groups_updated: bool = False
    reactivated: bool = False
    problem: str = ""


@dataclass
class RosterSummary:
    """The whole run: the counts and lists `facegrid enroll --roster` prints."""

    dry_run: bool = False
    subjects: int = 0
    photos: int = 0
    enrolled: int = 0  # in a dry run: photos that would be sent
    skipped: int = 0
    created: list[str] = field(default_factory=list)
    groups_updated: list[str] = field(default_factory=list)
    refused: list[RefusedPhoto] = field(default_factory=list)
    resembles: list[Resemblance] = field(default_factory=list)
    replaced: list[dict] = field(default_factory=list)  # {"subject", "photos", "templates_removed"}
    problems: list[RosterProblem] = field(default_factory=list)
    reactivated: list[str] = field(default_factory=list)
    suspended: list[str] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)
    left_suspended: list[str] = field(default_factory=list)  # in the export, but suspended by someone, not a sync
    error: str = ""  # the server trouble that stopped the run

    def add(self, run: SubjectRun) -> None:
        self.enrolled += len(run.enrolled)
        self.skipped += len(run.skipped)
        self.refused += run.refused
        self.resembles += run.resembles
        if run.created:
            self.created.append(run.subject_id)
        if run.groups_updated:
            self.groups_updated.append(run.subject_id)
        if run.reactivated:
            self.reactivated.append(run.subject_id)
        if run.replaced:
            self.replaced.append({"subject": run.subject_id, "photos": run.replaced, "templates_removed": run.templates_removed})
        if run.problem:
            self.problems.append(RosterProblem(0, run.subject_id, run.problem))

    @property
    def exit_code(self) -> int:
        """0: nothing refused; 1: a photo or a row refused; 2: the server could not be reached or refused the key."""
        return 2 if self.error else 1 if self.refused or self.problems else 0

    def as_json(self) -> dict:
        values = asdict(self)
        for name in ("created", "groups_updated", "reactivated", "suspended", "forgotten", "left_suspended"):
            values[name] = sorted(values[name])
        values["problems"] = [{"line": p.line or None, "subject": p.subject_id or None, "message": p.message}
                              for p in self.problems]
        values["refused"] = [{"subject": r.subject_id, "photo": r.photo, "issue": r.issue, "reason": r.reason}
                             for r in self.refused]
        values["resembles"] = [{"subject": r.subject_id, "photo": r.photo, "other": r.other} for r in self.resembles]
        values["error"] = self.error or None
        return values

    def lines(self) -> list[str]:
        """The summary in words."""
        verb = "would be sent" if self.dry_run else "enrolled"
        out = [("dry run: nothing was sent. " if self.dry_run else "")
               + f"{_count(self.subjects, 'subject')}, {_count(self.photos, 'photo')}: {self.enrolled} {verb}, "
               f"{self.skipped} already there, {len(self.refused)} refused, {len(self.resembles)} flagged as like another "
               f"subject; {_count(len(self.created), 'subject')} {'to create' if self.dry_run else 'created'}, "
               f"groups {'to update' if self.dry_run else 'updated'} for {_count(len(self.groups_updated), 'subject')}"]
        for r in self.refused:
            out.append(f"  refused {r.subject_id} {r.photo}: {r.issue}: {r.reason}")
        for r in self.resembles:
            out.append(f"  flagged {r.subject_id} {r.photo}: looks like subject {r.other} (the same person under two ids?"
                       " not merged)")
        for r in self.replaced:
            out.append(f"  replaced {r['subject']}: {', '.join(r['photos'])} ({r['templates_removed']} older templates removed)")
        for p in self.problems:
            out.append(f"  problem{f' line {p.line}' if p.line else ''}{f' {p.subject_id}' if p.subject_id else ''}: {p.message}")
        would = "would be " if self.dry_run else ""
        for label, names in (("reactivated", self.reactivated), ("suspended (absent from the export)", self.suspended),
                             ("forgotten (absent from the export)", self.forgotten)):
            if names:
                out.append(f"  {would}{label}: {', '.join(sorted(names))}")
        if self.left_suspended:
            out.append(f"  left suspended (not suspended by a sync): {', '.join(sorted(self.left_suspended))}")
        if self.error:
            out.append(f"  stopped: {self.error}")
        return out


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


# --- the run --------------------------------------------------------------------------------

@dataclass(frozen=True)
class RosterOptions:
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
    return SubjectInfo.from_message(subject), {t.photo_sha256 for t in subject.templates}


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


def _sent(client: Facegrid, row: RosterRow, photos: list[_Photo], groups: tuple[str, ...],
          replace: bool = False) -> list[PhotoOutcome]:
    """Enroll these photos (at most MAX_PHOTOS_PER_CALL); each one's outcome, refused ones included."""
    try:
        return client.enroll(row.subject_id, [p.data for p in photos], row.name, groups, replace=replace).photos
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
    for subject in [SubjectInfo.from_message(s) for s in client.subjects(page_size=1000)]:
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


class ProgressLine:
    """A progress line on stderr where tqdm is not installed (the thin client): only on a terminal, a few times a second."""

    def __init__(self, total: int, unit: str) -> None:
        self.total, self.unit, self.n = total, unit, 0
        self.shown = sys.stderr.isatty()
        self._last = 0.0
        self._postfix = ""

    def update(self, n: int) -> None:
        self.n += n
        if self.shown and (time.monotonic() - self._last > 0.2 or self.n >= self.total):
            self._last = time.monotonic()
            print(f"\r{self.n}/{self.total} {self.unit}s {self._postfix}", end="", file=sys.stderr, flush=True)

    def set_postfix(self, **values) -> None:
        self._postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def close(self) -> None:
        if self.shown and self._last:
            print(file=sys.stderr, flush=True)


def progress_bar(total: int, unit: str):
    """tqdm's bar on stderr (off where stderr is not a terminal), or ProgressLine without tqdm."""
    try:
        from tqdm import tqdm
    except ImportError:
        return ProgressLine(total, unit)
    return tqdm(total=total, unit=unit, disable=None, file=sys.stderr)


def run_roster(client: Facegrid, roster: Roster, options: RosterOptions) -> RosterSummary:
    """Every row, `options.workers` at a time (one call per subject, each with its own photos), then --sync; the summary.

    Server trouble stops the run: the summary says so (error) with what was done until then."""
    if options.sync and not roster.ids:
        raise RosterError("the roster lists nobody: --sync would suspend every subject")
    summary = RosterSummary(dry_run=options.dry_run, subjects=len(roster.rows), photos=roster.photo_count,
                            problems=list(roster.problems))
    bar = progress_bar(roster.photo_count, "photo")
    lock = threading.Lock()
    try:
        with ThreadPoolExecutor(max_workers=max(1, options.workers)) as pool:
            pending = {pool.submit(enroll_row, client, roster, row, options): row for row in roster.rows}
            try:
                for done in as_completed(pending):
                    run = done.result()
                    with lock:
                        summary.add(run)
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
