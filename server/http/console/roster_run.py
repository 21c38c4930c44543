"""A roster import run inside the server: what `facegrid enroll --roster FILE --photos DIR` does (clients/roster.py),
over a roster and photos uploaded from a browser, with the same summary (domain/roster_summary.py).

Per row: the photos the server holds already (by SHA-256) are skipped, the others enrolled (a new subject with the
row's groups), and an enrolled subject gets the row's groups added. Refusals are listed with the server's reason;
a row the server refuses (a bad or look-alike id) is a problem of that row and the run goes on; server trouble
(Redis away) stops it, saying so. Each Enroll is the audited call the REST route makes. What the command line
does besides (parallel workers, --sync, --forget-missing, --replace) stays with it.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from ...domain.callers import Caller
from ...domain.error_kinds import caller_message, kind_of, log_failure
from ...domain.errors import EnrollmentRefused, SubjectNotFound
from ...domain.gate_core import MAX_PHOTOS_PER_ENROLL
from ...domain.roster_file import Roster, RosterRow
from ...domain.roster_summary import RefusedPhoto, Resemblance, RosterSummary, SubjectRun
from ...domain.subject_access import AccessChange
from .. import gate_calls
from ..routes import gate
from .answers import Upload, user_error


def _clean(name: str) -> str:
    """A photo's name as a relative path with '/' (a Windows export's '\\' too), without '.' and empty parts."""
    return "/".join(part for part in name.replace("\\", "/").split("/") if part not in ("", "."))


class UploadedPhotos:
    """The uploaded photos, found by the names a roster gives them: the path relative to the photos folder, the
    same path inside a folder picked whole (the browser sends 'folder/...'), or the file name where only one
    photo has it."""

    def __init__(self, photos: list[Upload]) -> None:
        self.by_path = {_clean(p.name): p.data for p in photos}
        self.by_name: dict[str, list[str]] = defaultdict(list)
        for path in self.by_path:
            self.by_name[path.rsplit("/", 1)[-1]].append(path)

    def find(self, cell: str) -> bytes | None:
        """The photo a roster cell names, or None."""
        wanted = _clean(cell)
        if wanted in self.by_path:
            return self.by_path[wanted]
        inside = [p for p in self.by_path if p.endswith("/" + wanted)]
        if len(inside) == 1:
            return self.by_path[inside[0]]
        named = self.by_name.get(wanted.rsplit("/", 1)[-1], [])
        return self.by_path[named[0]] if len(named) == 1 else None

    def __len__(self) -> int:
        return len(self.by_path)


async def run_roster(request: Request, caller: Caller, roster: Roster, photos: UploadedPhotos,
                     dry_run: bool = False) -> RosterSummary:
    """Every row in turn, then the summary (`error` set where server trouble stopped the run)."""
    summary = RosterSummary(dry_run=dry_run, subjects=len(roster.rows), photos=roster.photo_count,
                            problems=list(roster.problems))
    for row in roster.rows:
        try:
            summary.add(await _row(request, caller, row, photos, dry_run))
        except Exception as error:  # noqa: BLE001 - the server's trouble, not the row's: stop and say so
            kind = kind_of(error)
            log_failure("Console/RosterImport", error, kind)
            summary.error = f"{kind.name}: {caller_message(error, kind)} (at {row.subject_id})"
            break
    return summary


async def _row(request: Request, caller: Caller, row: RosterRow, photos: UploadedPhotos, dry_run: bool) -> SubjectRun:
    """One roster row: what the server holds, the photos it lacks sent, the row's groups added."""
    run = SubjectRun(row.subject_id)
    try:
        try:
            held, templates = await run_in_threadpool(gate(request).subject, row.subject_id)
        except SubjectNotFound:
            held, templates = None, []
        known = {t.photo_sha256 for t in templates}
        chosen, seen = [], set()
        for name in row.photos:
            data = photos.find(name)
            if data is None:
                run.refused.append(RefusedPhoto(row.subject_id, name, "FILE_NOT_READ",
                                                f"{name} is not among the uploaded photos"))
                continue
            digest = hashlib.sha256(data).hexdigest()
            if digest not in seen:  # the same photo twice in a row: sent once
                seen.add(digest)
                chosen.append((name, data, digest))
        new = [(name, data) for name, data, digest in chosen if digest not in known]
        run.skipped += [name for name, _, digest in chosen if digest in known]
        if held is None and not new:
            run.problem = "not enrolled, and no photo of this row can be sent"
            return run
        if dry_run:
            run.enrolled, run.created = [name for name, _ in new], held is None
        else:
            for start in range(0, len(new), MAX_PHOTOS_PER_ENROLL):
                await _enroll(request, caller, row, new[start:start + MAX_PHOTOS_PER_ENROLL], held is None, run)
        if held is not None:
            await _add_groups(request, caller, row, held.groups, dry_run, run)
    except Exception as error:  # noqa: BLE001 - refused for this row (a bad id, a look-alike): the run goes on
        message = user_error(error)
        if message is None:
            raise
        run.problem = f"{kind_of(error).name}: {message}"
    return run


async def _enroll(request: Request, caller: Caller, row: RosterRow, chunk: list[tuple[str, bytes]], new_subject: bool,
                  run: SubjectRun) -> None:
    """One Enroll call of the row's photos; each photo's outcome recorded on the run."""
    groups = (row.groups or ()) if new_subject else ()  # a new subject is made with its groups
    try:
        outcomes = (await gate_calls.enroll(request, caller, row.subject_id, [d for _, d in chunk], row.name, groups)).photos
    except EnrollmentRefused as refused:  # no photo accepted: each one's reason
        outcomes = refused.outcomes
    for (name, _), outcome in zip(chunk, outcomes):
        if outcome.accepted:
            (run.skipped if outcome.duplicate else run.enrolled).append(name)
            if outcome.resembles:
                run.resembles.append(Resemblance(row.subject_id, name, outcome.resembles))
        else:
            issue = outcome.issue.value if outcome.issue is not None else "REFUSED"
            run.refused.append(RefusedPhoto(row.subject_id, name, issue, outcome.reason))
    if new_subject and any(o.accepted for o in outcomes):
        run.created = True


async def _add_groups(request: Request, caller: Caller, row: RosterRow, current: tuple[str, ...], dry_run: bool,
                      run: SubjectRun) -> None:
    """An enrolled subject gets the row's groups besides its own (as the command line without --sync)."""
    if row.groups is None:
        return
    wanted = sorted(set(current) | set(row.groups))
    run.groups_updated = wanted != sorted(current)
    if run.groups_updated and not dry_run:
        await run_in_threadpool(gate_calls.update_subject, request, caller, row.subject_id, AccessChange(groups=wanted))
