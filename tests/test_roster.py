"""Enrolling a campus, over a real socket: a real `facegrid serve` with keys, the SDK and `facegrid enroll --roster`.

Enrollment safety (a photo unlike the subject's templates refused with NOT_LIKE_SUBJECT; an admin key replaces
them, the new templates stored before the old go; the same face under a second id flagged, never merged; every
attempt audited), and the roster command on CSVs written at test time (an Excel export's BOM, `;` lists, its own
column names) over a folder of links to the shared photos: resumable, dry run, refusals and exit codes, --replace,
--sync and --forget-missing. One server for the module; each test makes its own subjects first.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import grpc
import numpy as np
import pytest
from PIL import Image

from facegrid.clients.roster import ROSTER_SYNC
from facegrid.clients.sdk import FacegridError

from helpers import eventually, facegrid, last_json, make_keys, running_server

ANGELINA = "deepface/id01_angelina_jolie"
JENNIFER = "deepface/id02_jennifer_aniston"
SCARLETT = "deepface/id03_scarlett_johansson"
MARK = "deepface/id04_mark_zuckerberg"
JACK = "deepface/id05_jack_dorsey"
KATY = "deepface/id10_katy_perry"
MATT = "deepface/id11_matt_damon"  # enrolled by no test: the stranger
GEORGE = "deepface/id13_george_clooney"


def pictures(faces_dir: Path, folder: str) -> list[Path]:
    return sorted(p for p in (faces_dir / folder).iterdir() if p.is_file())


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()



def forget_all(client, *subjects: str) -> None:
    """These subjects gone (left over from an earlier run of a test, or never there)."""
    for subject in subjects:
        try:
            client.forget(subject)
        except FacegridError as error:
            assert error.code == grpc.StatusCode.NOT_FOUND


def enroll_audit(admin, subject: str) -> list:
    return [e for e in admin.audit(subject=subject) if e.rpc == "GateService/Enroll"]


def enroll_audit_of(admin, subjects, at_least: int) -> list:
    """The Enroll entries of these subjects, once at least `at_least` are written (or after 10 s)."""
    found: list = []

    def enough() -> bool:
        found[:] = [e for s in subjects for e in enroll_audit(admin, s)]
        return len(found) >= at_least

    eventually(enough)
    return found


@pytest.fixture(scope="module")
def server(tmp_path_factory, faces_dir):
    with running_server(tmp_path_factory.mktemp("roster")) as server:
        yield server


@pytest.fixture(scope="module")
def keys(server) -> dict[str, str]:
    """An admin key (made without a key: none existed), an enroll key (a registrar) and one with enroll and admin."""
    return make_keys(server, {"enroll": ("registrar", ["enroll"]), "enroll+admin": ("head-registrar", ["enroll", "admin"])})


@pytest.fixture(scope="module")
def clients(server, keys):
    with server.client(api_key=keys["admin"]) as admin, server.client(api_key=keys["enroll"], timeout=120) as registrar, \
            server.client(api_key=keys["enroll+admin"], timeout=120) as head:
        yield admin, registrar, head


# --- enrollment safety (the SDK) ---------------------------------------------------------------

def test_a_photo_unlike_the_subject_is_refused_and_only_an_admin_key_replaces_the_templates(clients, faces_dir):
    admin, registrar, head = clients
    angelina, george = pictures(faces_dir, ANGELINA), pictures(faces_dir, GEORGE)[1:]  # its first shows two people
    forget_all(registrar, "changed")
    assert registrar.enroll("changed", angelina[:2]).templates == 2

    with pytest.raises(FacegridError) as refused:  # an enroll key adds someone else's face: refused, nothing stored
        registrar.enroll("changed", [george[0]])
    assert refused.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert refused.value.outcomes[0].issue == "NOT_LIKE_SUBJECT" and "unlike" in refused.value.outcomes[0].reason
    mixed = registrar.enroll("changed", [george[0], angelina[2]])  # the like one is taken, the unlike one refused
    assert [(o.accepted, o.issue) for o in mixed.photos] == [(False, "NOT_LIKE_SUBJECT"), (True, None)]
    assert mixed.templates == 3

    with pytest.raises(FacegridError) as denied:
        registrar.enroll("changed", george[:2], replace=True)
    assert denied.value.code == grpc.StatusCode.PERMISSION_DENIED and "admin" in denied.value.message
    assert len(registrar.subject("changed").templates) == 3

    replaced = head.enroll("changed", george[:2], replace=True)  # a student who has changed: an admin's call
    assert all(o.accepted and "replaced" in o.warnings[0] for o in replaced.photos)
    assert (replaced.templates, replaced.templates_removed) == (2, 3)
    assert {t.photo_sha256 for t in registrar.subject("changed").templates} == {sha(p) for p in george[:2]}
    assert registrar.enroll("changed", [george[2]]).photos[0].accepted  # the new face is the subject's now

    entries = enroll_audit_of(admin, ["changed"], 6)
    assert [(e.key_name, e.decision, e.reason) for e in entries] == [
        ("registrar", "enrolled", ""), ("registrar", "refused", "NOT_LIKE_SUBJECT"),
        ("registrar", "enrolled", "NOT_LIKE_SUBJECT"), ("registrar", "PERMISSION_DENIED", ""),
        ("head-registrar", "replaced", ""), ("registrar", "enrolled", "")]
    assert "replace" in entries[3].detail and "3 older removed" in entries[4].detail


def test_the_same_face_under_a_second_id_is_flagged_never_merged(clients, faces_dir):
    _, registrar, _ = clients
    scarlett = pictures(faces_dir, SCARLETT)
    forget_all(registrar, "twin-a", "twin-b", "stranger")
    registrar.enroll("twin-a", scarlett[:2])
    second = registrar.enroll("twin-b", [scarlett[2]]).photos[0]
    assert second.accepted and second.resembles == "twin-a" and "two ids" in second.warnings[0]
    assert (len(registrar.subject("twin-a").templates), len(registrar.subject("twin-b").templates)) == (2, 1)
    stranger = registrar.enroll("stranger", pictures(faces_dir, MATT)[:1]).photos[0]
    assert stranger.accepted and stranger.resembles == "" and not stranger.warnings


# --- the roster command -------------------------------------------------------------------------

def photo_folder(tmp_path: Path, faces_dir: Path, links: dict[str, Path]) -> Path:
    """A folder of links named as a roster names them, to the shared photos (no photo is copied or committed)."""
    folder = tmp_path / "photos"
    for name, target in links.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).symlink_to(target)
    return folder


def write_csv(path: Path, lines: list[str], bom: bool = False) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8-sig" if bom else "utf-8")
    return path


def roster(server, key: str, csv_path: Path, photos: Path, *extra: str) -> tuple[int, dict]:
    """`facegrid enroll --roster` as an operator runs it: its exit code and its JSON summary."""
    run = facegrid("enroll", "--roster", str(csv_path), "--photos", str(photos), "--server", server.address,
                   "--api-key", key, "--json", *extra)
    assert run.stdout.strip(), run.stderr
    return run.returncode, last_json(run.stdout)


def test_an_excel_roster_is_enrolled_and_a_rerun_sends_nothing(server, keys, clients, faces_dir, tmp_path):
    admin, registrar, _ = clients
    angelina, katy, jennifer = pictures(faces_dir, ANGELINA), pictures(faces_dir, KATY), pictures(faces_dir, JENNIFER)
    ids = ("r1-angelina", "r1-katy", "r1-jennifer", "r1-jack")
    forget_all(registrar, *ids)
    photos = photo_folder(tmp_path, faces_dir, {"a/angelina 1.jpg": angelina[0], "a/angelina 2.jpg": angelina[1],
                                                "katy.jpg": katy[0], "jennifer.jpg": jennifer[0], "jack.jpg": pictures(faces_dir, JACK)[0]})
    header = "Student ID,Full name,Pictures,Teams"
    rows = ["r1-angelina,Angelina Jolie,a/angelina 1.jpg; a/angelina 2.jpg,Students; Athletes",
            "r1-katy,Katy Perry,katy.jpg,staff", "r1-jennifer,,jennifer.jpg,"]
    columns = ["--id-column", "Student ID", "--name-column", "full name", "--photo-column", "Pictures", "--groups-column", "Teams"]
    export = write_csv(tmp_path / "roster.csv", [header, *rows], bom=True)

    code, first = roster(server, keys["enroll"], export, photos, *columns)
    assert code == 0, first
    assert (first["enrolled"], first["skipped"], first["refused"], first["problems"]) == (4, 0, [], [])
    assert first["created"] == sorted(ids[:3])
    angelina_held = registrar.subject("r1-angelina")
    assert list(angelina_held.groups) == ["athletes", "students"] and angelina_held.display_name == "Angelina Jolie"
    assert len(angelina_held.templates) == 2
    assert len(enroll_audit_of(admin, ids[:3], 3)) == 3  # one call per subject, with all its photos

    with_jack = write_csv(tmp_path / "with-jack.csv", [header, *rows, "r1-jack,Jack,jack.jpg,staff"], bom=True)
    code, dry = roster(server, keys["enroll"], with_jack, photos, *columns, "--dry-run")
    assert code == 0 and dry["dry_run"]
    assert (dry["enrolled"], dry["skipped"], dry["created"]) == (1, 4, ["r1-jack"])
    with pytest.raises(FacegridError) as missing:
        registrar.subject("r1-jack")
    assert missing.value.code == grpc.StatusCode.NOT_FOUND  # the dry run sent nothing

    code, again = roster(server, keys["enroll"], export, photos, *columns)
    assert code == 0 and (again["enrolled"], again["skipped"], again["created"], again["groups_updated"]) == (0, 4, [], [])
    registrar.update_subject("r1-katy", groups=["staff"])  # an audited call after the reruns: once it is in the log ...
    eventually(lambda: any(e.rpc == "GateService/UpdateSubject" for e in admin.audit(subject="r1-katy")))
    assert len(enroll_audit_of(admin, ids, 3)) == 3  # ... no Enroll came from the dry run or the rerun


def test_refused_photos_are_listed_with_their_reason_and_an_admin_key_replaces(server, keys, clients, faces_dir, tmp_path):
    _, registrar, _ = clients
    forget_all(registrar, "r2-angelina", "r2-blank")
    registrar.enroll("r2-angelina", pictures(faces_dir, ANGELINA)[:2])
    photos = photo_folder(tmp_path, faces_dir, {"mark.jpg": pictures(faces_dir, MARK)[0]})
    blank = io.BytesIO()
    Image.fromarray(np.full((480, 640, 3), 200, np.uint8)).save(blank, "JPEG")
    (photos / "blank.jpg").write_bytes(blank.getvalue())
    export = write_csv(tmp_path / "roster.csv", ["id,name,photo", "r2-angelina,Angelina,mark.jpg", "r2-blank,Nobody,blank.jpg",
                                                 "r2-missing,,not-there.jpg"])

    code, summary = roster(server, keys["enroll"], export, photos)
    assert code == 1
    refused = {r["subject"]: (r["photo"], r["issue"]) for r in summary["refused"]}
    assert refused == {"r2-angelina": ("mark.jpg", "NOT_LIKE_SUBJECT"), "r2-blank": ("blank.jpg", "NO_FACE"),
                       "r2-missing": ("not-there.jpg", "FILE_NOT_READ")}
    assert all(r["reason"] for r in summary["refused"]) and summary["created"] == []

    code, denied = roster(server, keys["enroll"], export, photos, "--replace")  # an enroll key may not replace
    assert code == 2 and "admin" in denied["error"]

    code, replaced = roster(server, keys["enroll+admin"], export, photos, "--replace")
    assert code == 1  # the blank photo is still refused
    assert replaced["replaced"] == [{"subject": "r2-angelina", "photos": ["mark.jpg"], "templates_removed": 2}]
    assert {r["subject"] for r in replaced["refused"]} == {"r2-blank", "r2-missing"}
    assert [t.photo_sha256 for t in registrar.subject("r2-angelina").templates] == [sha(photos / "mark.jpg")]


def test_sync_suspends_the_absent_reactivates_them_and_forget_missing_forgets(server, keys, clients, faces_dir, tmp_path):
    _, registrar, _ = clients
    forget_all(registrar, "r3-katy", "r3-jennifer", "r3-held")
    photos = photo_folder(tmp_path, faces_dir, {"katy.jpg": pictures(faces_dir, KATY)[1],
                                                "jennifer.jpg": pictures(faces_dir, JENNIFER)[1]})
    registrar.enroll("r3-held", pictures(faces_dir, ANGELINA)[3:4])
    registrar.update_subject("r3-held", suspended=True)  # suspended by the desk, not by a sync
    everyone = ["id,photo,groups", "r3-katy,katy.jpg,staff", "r3-jennifer,jennifer.jpg,staff;coaches", "r3-held,,"]
    write_csv(tmp_path / "all.csv", everyone)
    write_csv(tmp_path / "left.csv", [everyone[0], "r3-katy,katy.jpg,athletes", everyone[3]])
    code, summary = roster(server, keys["enroll"], tmp_path / "all.csv", photos)
    assert code == 0 and summary["created"] == ["r3-jennifer", "r3-katy"]

    code, synced = roster(server, keys["enroll"], tmp_path / "left.csv", photos, "--sync")
    assert code == 0 and "r3-jennifer" in synced["suspended"] and "r3-katy" not in synced["suspended"]
    assert synced["groups_updated"] == ["r3-katy"] and synced["left_suspended"] == ["r3-held"]
    gone = registrar.subject("r3-jennifer")
    assert gone.status == "suspended" and gone.status_reason == ROSTER_SYNC  # kept with its templates
    assert list(registrar.subject("r3-katy").groups) == ["athletes"]  # the export's groups replace the subject's

    code, back = roster(server, keys["enroll"], tmp_path / "all.csv", photos, "--sync")
    assert code == 0 and back["reactivated"] == ["r3-jennifer"] and back["left_suspended"] == ["r3-held"]
    assert registrar.subject("r3-jennifer").active and registrar.subject("r3-held").status == "suspended"

    code, forgot = roster(server, keys["enroll"], tmp_path / "left.csv", photos, "--sync", "--forget-missing")
    assert code == 0 and "r3-jennifer" in forgot["forgotten"] and forgot["suspended"] == []
    with pytest.raises(FacegridError) as gone_for_good:
        registrar.subject("r3-jennifer")
    assert gone_for_good.value.code == grpc.StatusCode.NOT_FOUND
