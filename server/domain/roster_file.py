"""A roster export read: a CSV with a header row (UTF-8, with or without Excel's BOM), a row per subject,
several photos or groups in a cell separated by `;`.

Pure code shared by `facegrid enroll --roster` (clients/roster.py enrolls what it holds) and the console's roster
import (server/http/console/roster.py), which must read a file alike and import nothing of the clients."""

from __future__ import annotations

import csv
import io
import unicodedata
from dataclasses import dataclass
from pathlib import Path

LIST_SEPARATOR = ";"  # several photos or groups in one cell


class RosterError(Exception):
    """The roster cannot be used at all: unreadable, no header, a column missing."""


@dataclass(frozen=True)
class RosterColumns:
    """The header names of the roster's columns (matched without regard to case or surrounding spaces)."""

    id: str = "id"
    name: str = "name"
    photo: str = "photo"
    groups: str = "groups"


@dataclass(frozen=True)
class RosterRow:
    """One usable row of a roster: the subject id, name, photos and groups."""

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
    """A read roster: its usable rows, the problems found, and every id it names."""

    rows: list[RosterRow]
    problems: list[RosterProblem]
    ids: set[str]  # every id in the export, its row usable or not: --sync never suspends these
    photos_dir: Path

    @property
    def photo_count(self) -> int:
        """How many photos the usable rows name."""
        return sum(len(row.photos) for row in self.rows)


def split_cell(text: str) -> tuple[str, ...]:
    """'a.jpg; b.jpg;' -> ('a.jpg', 'b.jpg')."""
    return tuple(part.strip() for part in (text or "").split(LIST_SEPARATOR) if part.strip())


def read_roster(path: Path, photos_dir: Path, columns: RosterColumns = RosterColumns(),
                required: frozenset[str] = frozenset({"id", "photo"})) -> Roster:
    """The rows of a roster CSV file (see parse_roster)."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise RosterError(f"cannot read {path}: {error.strerror or error}") from None
    return parse_roster(data, str(path), photos_dir, columns, required)


def parse_roster(data: bytes, source: str, photos_dir: Path = Path("."), columns: RosterColumns = RosterColumns(),
                 required: frozenset[str] = frozenset({"id", "photo"})) -> Roster:
    """The rows of a roster CSV's bytes (UTF-8, with or without Excel's BOM; a header row); `source` names it in errors.

    `required`: the columns (by field of RosterColumns) that must be in the header; the others are used where present."""
    path = source  # as the command-line reader names a file in its errors
    try:
        records = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    except UnicodeDecodeError as error:
        raise RosterError(f"{path} is not UTF-8 text ({error.reason} at byte {error.start}): export it as "
                          "CSV UTF-8") from None
    except csv.Error as error:
        raise RosterError(f"{path} is not a CSV file the roster reader understands: {error}") from None
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


