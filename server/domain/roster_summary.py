"""What a roster run did: per subject (SubjectRun) and in all (RosterSummary, the summary printed at the end); the
same words from `facegrid enroll --roster` and the console's roster import."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .roster_file import RosterProblem


@dataclass(frozen=True)
class RefusedPhoto:
    """A roster photo the server (or the file system) refused, and why."""

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
        """Add one subject's run to the counts and lists."""
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
        """The summary as plain JSON data, lists sorted (what --json prints)."""
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


