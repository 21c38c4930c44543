"""Doors over a real socket: a real `facegrid serve` (liveness off, embedded Redis) with keys, the SDK and the CLI.

Who may pass where (subject groups, status and expiry; door rules with hours in a time zone), door-bound gate
keys, the Pass decision on real photos (bursts made of one photo, cropped a little from frame to frame, as a
door's camera would send them), least disclosure to gate keys, and the audit log. One server for the module;
one more, with liveness required and no model, for the refusal that gives.
"""

from __future__ import annotations

import io
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import grpc
import numpy as np
import pytest
from PIL import Image

from facegrid.clients.sdk import FacegridError
from facegrid.server.domain.door_hours import DAYS

from helpers.door_frames import frame, photos
from helpers import ServerProcess, eventually, facegrid, last_json, make_keys, running_server

PEOPLE = {  # subject -> (photo folder, groups)
    "angelina": ("deepface/id01_angelina_jolie", ["athletes"]),
    "scarlett": ("deepface/id03_scarlett_johansson", ["students"]),
    "katy": ("deepface/id10_katy_perry", ["staff"]),
    "jennifer": ("deepface/id02_jennifer_aniston", ["staff"]),
}
STRANGER = "deepface/id11_matt_damon"
GROUP_PHOTO = "face_recognition/unlabeled/obama_and_biden.jpg"
ALWAYS = "Mon-Sun 00:00-24:00"




def burst(photo: bytes) -> list[bytes]:
    """Three frames of one approach."""
    return [frame(photo, crop) for crop in (0.0, 0.03, 0.06)]


def blank() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((480, 640, 3), 180, np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


def closed_now(zone: str) -> str:
    """Hours that exclude the present moment in `zone`: a whole day three days from today."""
    return f"{DAYS[(datetime.now(ZoneInfo(zone)).weekday() + 3) % 7].title()} 00:00-24:00"


def code_of(call) -> FacegridError:
    with pytest.raises(FacegridError) as caught:
        call()
    return caught.value



def only_doors(admin, *doors: dict) -> None:
    """Exactly these door rules on the server (none: no door has a rule)."""
    for door in admin.doors():
        admin.delete_door(door.name)
    for door in doors:
        admin.set_door(**door)


@pytest.fixture(scope="module")
def server(tmp_path_factory, faces_dir):
    with running_server(tmp_path_factory.mktemp("doors"), args=["--liveness", "off"]) as server:
        yield server


@pytest.fixture(scope="module")
def keys(server) -> dict[str, str]:
    """An admin key (made without a key: none existed), a gate key, a desk key (gate + enroll), an enroll key and a
    gate key bound to the door `gym`."""
    return make_keys(server, {"gate": ("lobby-camera", ["gate"]), "desk": ("desk", ["gate", "enroll"]),
                              "enroll": ("registrar", ["enroll"]), "gym": ("gym-camera", ["gate"], "gym")})


@pytest.fixture(scope="module")
def enrolled(server, keys, faces_dir) -> dict[str, bytes]:
    """Four people enrolled from two photos each with their groups (angelina through the CLI); a probe photo each."""
    probes = {}
    with server.client(api_key=keys["enroll"], timeout=120) as desk:
        for subject, (folder, groups) in PEOPLE.items():
            pictures = photos(faces_dir, folder)
            probes[subject] = pictures[2]
            if subject == "angelina":
                paths = [str(p) for p in sorted((faces_dir / folder).iterdir())[:2]]
                run = facegrid("enroll", subject, *paths, "--groups", ",".join(groups), "--name", "Angelina",
                               "--server", server.address, "--api-key", keys["enroll"], "--json")
                assert run.returncode == 0, run.stderr
                continue
            assert desk.enroll(subject, pictures[:2], display_name=subject.title(), groups=groups).templates == 2
    return probes


def test_subjects_carry_groups_a_status_and_an_expiry(server, keys, enrolled, faces_dir):
    common = ["--server", server.address, "--api-key", keys["enroll"], "--json"]
    listed = {s["subject"]: s for s in last_json(facegrid("subjects", *common).stdout)["subjects"]}
    assert listed["angelina"]["groups"] == ["athletes"] and listed["angelina"]["status"] == "active"
    assert listed["angelina"]["expires_at"] is None and listed["angelina"]["name"] == "Angelina"

    run = facegrid("subjects", "update", "scarlett", "--groups", "students,rowing", "--suspend", "--expires", "2027-07-01", *common)
    assert run.returncode == 0, run.stderr
    updated = last_json(run.stdout)
    assert updated["groups"] == ["rowing", "students"] and updated["status"] == "suspended"
    assert updated["expires_at"] == datetime(2027, 7, 1).timestamp()  # local midnight, as `audit --since` reads dates
    with server.client(api_key=keys["enroll"], timeout=60) as desk:
        subject = desk.subject("scarlett")  # GetSubject: the same, with the templates
        assert list(subject.groups) == ["rowing", "students"] and subject.status == "suspended" and len(subject.templates) == 2
        # Enroll adds groups to those held (here with a photo already enrolled: nothing else changes).
        again = desk.enroll("scarlett", photos(faces_dir, PEOPLE["scarlett"][0])[:1], groups=["choir"])
        assert again.photos[0].duplicate and list(desk.subject("scarlett").groups) == ["choir", "rowing", "students"]
        back = desk.update_subject("scarlett", groups=["students"], suspended=False, expires_at=0)
        assert (back.groups, back.status, back.expires_at, back.active) == (["students"], "active", None, True)
        kept = desk.update_subject("scarlett")  # nothing given: nothing changes
        assert (kept.groups, kept.status) == (["students"], "active")

        assert code_of(lambda: desk.update_subject("scarlett", groups=["Students"])).code is grpc.StatusCode.INVALID_ARGUMENT
        assert code_of(lambda: desk.update_subject("scarlett", groups=["a b"])).code is grpc.StatusCode.INVALID_ARGUMENT
        assert code_of(lambda: desk.update_subject("scarlett", expires_at=-5)).code is grpc.StatusCode.INVALID_ARGUMENT
        assert code_of(lambda: desk.update_subject("nobody-here", suspended=True)).code is grpc.StatusCode.NOT_FOUND
        bad = code_of(lambda: desk.enroll("newcomer", photos(faces_dir, STRANGER)[:1], groups=["x" * 65]))
        assert bad.code is grpc.StatusCode.INVALID_ARGUMENT and "group name" in bad.message
        assert code_of(lambda: desk.subject("newcomer")).code is grpc.StatusCode.NOT_FOUND  # refused before anything was stored
    with server.client(api_key=keys["gate"]) as gate:  # a gate key may not change who passes
        assert code_of(lambda: gate.update_subject("scarlett", suspended=False)).code is grpc.StatusCode.PERMISSION_DENIED


def test_door_rules_are_set_listed_and_deleted(server, keys):
    with server.client(api_key=keys["admin"]) as admin:
        only_doors(admin)  # no rule left by another test: the listing below is of these two alone
    common = ["--server", server.address, "--api-key", keys["admin"], "--json"]
    run = facegrid("doors", "set", "gym", "--groups", "athletes,staff", "--hours", "Mon-Fri 06:00-22:00;  Sat 08:00-18:00",
                   "--tz", "Europe/Berlin", "--fallback", "card + PIN", *common)
    assert run.returncode == 0, run.stderr
    gym = last_json(run.stdout)
    assert gym == {**gym, "name": "gym", "groups": ["athletes", "staff"], "hours": "Mon-Fri 06:00-22:00; Sat 08:00-18:00",
                   "timezone": "Europe/Berlin", "fallback": "card + PIN"}
    assert facegrid("doors", "set", "library", "--groups", "students", *common).returncode == 0
    listed = last_json(facegrid("doors", "list", *common).stdout)["doors"]
    assert [d["name"] for d in listed] == ["gym", "library"] and listed[1]["timezone"] == "UTC" and listed[1]["hours"] == ""

    refused = facegrid("doors", "set", "gym", "--hours", "Mon-Fro 06:00-22:00", *common)
    assert refused.returncode == 2 and last_json(refused.stdout)["error"] == "INVALID_ARGUMENT", refused.stdout
    assert "'Fro' is not a day" in last_json(refused.stdout)["message"]
    with server.client(api_key=keys["admin"]) as admin:
        for rule, names in ((dict(hours="Mon 06:00-25:00"), "'25:00' is not a time"),
                            (dict(timezone="Mars/Olympus"), "not an IANA time zone"),
                            (dict(groups=["Athletes"]), "group name 'Athletes'"),
                            (dict(fallback="x" * 201), "at most 200 characters"),
                            (dict(name="Main Entrance"), "door name")):
            bad = code_of(lambda: admin.set_door(**{"name": "gym", **rule}))
            assert bad.code is grpc.StatusCode.INVALID_ARGUMENT and names in bad.message, bad.message
        assert [vars(d) for d in admin.doors()][0]["hours"] == listed[0]["hours"]  # refusals changed nothing
        assert admin.delete_door("library").name == "library"
        assert code_of(lambda: admin.delete_door("library")).code is grpc.StatusCode.NOT_FOUND
    missing = facegrid("doors", "delete", "library", *common)
    assert missing.returncode == 2 and last_json(missing.stdout)["error"] == "NOT_FOUND"
    with server.client(api_key=keys["enroll"]) as desk:
        assert code_of(desk.doors).code is grpc.StatusCode.PERMISSION_DENIED


def test_with_no_door_rule_every_door_admits_every_active_subject(server, keys, enrolled):
    with server.client(api_key=keys["admin"]) as admin:
        only_doors(admin)
    with server.client(api_key=keys["enroll"]) as desk:
        desk.update_subject("katy", suspended=True)
    with server.client(api_key=keys["gate"], timeout=60) as gate:
        for door in ("front", "anything-at-all"):
            result = gate.pass_burst(burst(enrolled["scarlett"]), door=door)  # scarlett's groups name no door
            assert result.accepted and result.reason == "ADMITTED" and result.subject == "scarlett" and result.door == door
        suspended = gate.pass_burst(burst(enrolled["katy"]), door="front")
        assert not suspended.accepted and suspended.reason == "SUSPENDED" and suspended.subject == "katy"


def test_pass_accepts_an_enrolled_person_with_or_without_a_card(server, keys, enrolled):
    with server.client(api_key=keys["admin"]) as admin:
        only_doors(admin, dict(name="gym", groups=["athletes", "staff"], hours=ALWAYS, timezone="Europe/Berlin"))
    frames = burst(enrolled["angelina"])
    with server.client(api_key=keys["gate"], timeout=60) as gate:
        by_face = gate.pass_burst(frames, door="gym", track="t-1")
        by_card = gate.pass_burst(frames, door="gym", subject_id="angelina")
    for result in (by_face, by_card):
        assert result.decision == "ACCEPT" and result.accepted and result.reason == "ADMITTED"
        assert result.subject == "angelina" and result.display_name == "Angelina" and result.door == "gym"
        assert result.band in ("MEDIUM", "HIGH") and result.score is None and result.threshold is None  # a gate key: a band
        assert result.liveness == "NOT_CHECKED" and result.frame_liveness == [] and result.fallback == ""
        assert 0 <= result.frame_used < 3
        t = result.timings
        assert set(t) == {"decode", "detect", "liveness", "embed", "search", "rule", "total"}
        assert t["decode"] > 0 and t["detect"] > 0 and t["embed"] > 0 and t["liveness"] == 0
        assert t["total"] >= t["decode"] + t["detect"] + t["embed"] + t["search"] + t["rule"]
    with server.client(api_key=keys["desk"], timeout=60) as desk:  # enroll scope: the score too
        full = desk.pass_burst(frames, door="gym", subject_id="angelina")
        assert full.accepted and full.score >= full.threshold > 0.5


def test_an_unknown_card_and_a_wrong_card_get_the_same_answer(server, keys, enrolled):
    frames = burst(enrolled["scarlett"])
    with server.client(api_key=keys["gate"], timeout=60) as gate:
        wrong = gate.pass_burst(frames, door="gym", subject_id="angelina")
        unknown = gate.pass_burst(frames, door="gym", subject_id="no-such-card-4711")
    for result in (wrong, unknown):
        assert result.decision == "DENY" and result.reason == "NO_MATCH" and result.band == "LOW"
        assert result.subject == "" and result.score is None
    assert (wrong.message, wrong.band, wrong.frame_used, wrong.liveness) == (unknown.message, unknown.band, unknown.frame_used, unknown.liveness)
    assert wrong.timings["embed"] > 0 and unknown.timings["embed"] > 0  # the same work: embedded and compared alike
    with server.client(api_key=keys["desk"], timeout=60) as desk:  # a key that may list subjects is told which
        assert "enrolled" in desk.pass_burst(frames, door="gym", subject_id="no-such-card-4711").message
        scored = desk.pass_burst(frames, door="gym", subject_id="angelina")
        assert scored.reason == "NO_MATCH" and scored.score < scored.threshold


def test_the_doors_rule_groups_hours_status_and_expiry(server, keys, enrolled):
    started = time.time()
    with server.client(api_key=keys["admin"]) as admin:
        only_doors(admin,
                   dict(name="gym", groups=["athletes", "staff"], hours=ALWAYS, timezone="Europe/Berlin", fallback="card + PIN"),
                   dict(name="pool", groups=["athletes"], hours=closed_now("Asia/Tokyo"), timezone="Asia/Tokyo"))
    with server.client(api_key=keys["enroll"]) as desk:
        desk.update_subject("katy", suspended=True)
        desk.update_subject("jennifer", suspended=False, expires_at=time.time() - 60)
    with server.client(api_key=keys["gate"], timeout=60) as gate:
        here = gate.pass_burst(burst(enrolled["scarlett"]), door="gym")  # a student at the athletes' door
        assert (here.decision, here.reason, here.subject, here.fallback) == ("DENY", "NOT_ALLOWED_HERE", "scarlett", "card + PIN")
        closed = gate.pass_burst(burst(enrolled["angelina"]), door="pool")
        assert closed.reason == "OUTSIDE_HOURS" and closed.subject == "angelina" and "Asia/Tokyo" in closed.message
        assert gate.pass_burst(burst(enrolled["katy"]), door="gym").reason == "SUSPENDED"
        assert gate.pass_burst(burst(enrolled["jennifer"]), door="gym").reason == "EXPIRED"
        unknown = gate.pass_burst(burst(enrolled["angelina"]), door="side-entrance")  # doors are configured; not this one
        assert unknown.reason == "UNKNOWN_DOOR" and not unknown.accepted
        with server.client(api_key=keys["enroll"]) as desk:
            desk.update_subject("katy", suspended=False)
            desk.update_subject("jennifer", expires_at=time.time() + 3600)
        assert gate.pass_burst(burst(enrolled["katy"]), door="gym").accepted  # back, at once (nothing is cached)
        assert gate.pass_burst(burst(enrolled["jennifer"]), door="gym").accepted
    with server.client(api_key=keys["admin"]) as admin:
        seen = eventually(lambda: {d.name: d.last_seen_at for d in admin.doors() if d.last_seen_at})  # written in the background
        assert set(seen) == {"gym", "pool"} and all(started - 60 < t <= time.time() + 1 for t in seen.values())


def test_a_door_key_passes_only_as_its_door(server, keys, enrolled):
    with server.client(api_key=keys["admin"]) as admin:
        only_doors(admin, dict(name="gym", groups=["athletes"], hours=ALWAYS), dict(name="vault", groups=["staff"]))
        listed = {k.name: k for k in admin.list_keys()}
        assert listed["gym-camera"].door == "gym" and listed["lobby-camera"].door == ""
        for scopes, door in ((["gate", "enroll"], "gym"), (["gate"], "Gym Hall")):
            refused = code_of(lambda: admin.create_key("odd-door-key", scopes, door=door))
            assert refused.code is grpc.StatusCode.INVALID_ARGUMENT
    frames = burst(enrolled["angelina"])
    with server.client(api_key=keys["gym"], timeout=60) as gym:
        assert gym.pass_burst(frames, door="gym").accepted
        for other in ("vault", "no-such-door"):  # a door with a rule and one without: one answer, naming neither
            refused = code_of(lambda: gym.pass_burst(frames, door=other))
            assert refused.code is grpc.StatusCode.PERMISSION_DENIED and other not in refused.message
            assert refused.message == "key 'gym-camera': this key is bound to a door: it may only pass as that door"
        verify = code_of(lambda: gym.verify("angelina", frames[0]))  # a door key is for Pass alone
        assert verify.code is grpc.StatusCode.PERMISSION_DENIED and "only call Pass" in verify.message


def test_crowds_strangers_poor_frames_swapped_faces_and_bad_calls(server, keys, enrolled, faces_dir):
    with server.client(api_key=keys["admin"]) as admin:
        only_doors(admin, dict(name="gym", groups=["athletes", "staff", "students"], hours=ALWAYS))
    group = frame((faces_dir / GROUP_PHOTO).read_bytes())
    with server.client(api_key=keys["gate"], timeout=60) as gate:
        crowd = gate.pass_burst(burst(enrolled["angelina"]) + [group], door="gym", subject_id="angelina")
        assert (crowd.decision, crowd.reason, crowd.subject) == ("DENY", "MORE_THAN_ONE_FACE", "")
        together = gate.pass_burst([group], door="gym", allow_groups=True)  # a door for groups decides the largest face
        assert together.reason == "UNKNOWN_PERSON"
        stranger = gate.pass_burst(burst(photos(faces_dir, STRANGER)[0]), door="gym")
        assert (stranger.decision, stranger.reason, stranger.subject, stranger.band) == ("DENY", "UNKNOWN_PERSON", "", "LOW")
        poor = gate.pass_burst([blank(), blank()], door="gym")
        assert poor.reason == "POOR_QUALITY" and poor.frame_used == -1 and poor.band is None
        tiny = gate.pass_burst([_small(enrolled["angelina"])], door="gym")
        assert tiny.reason == "POOR_QUALITY"
        # A face swapped mid-burst: the live frames and the identity would come from two people.
        swapped = gate.pass_burst(burst(enrolled["angelina"])[:2] + [frame(enrolled["scarlett"])], door="gym")
        assert swapped.reason == "PRESENTATION_ATTACK" and swapped.subject == ""
        face = frame(enrolled["angelina"])
        for call, says in ((lambda: gate.pass_burst([], door="gym"), "1 to 10 frames"),
                           (lambda: gate.pass_burst([face] * 11, door="gym"), "1 to 10 frames"),
                           (lambda: gate.pass_burst([face, b"not a photo"], door="gym"), "frame 1"),
                           (lambda: gate.pass_burst([face, b""], door="gym"), "frame 1 is empty"),
                           (lambda: gate.pass_burst([face], door="Main Door"), "door name"),
                           (lambda: gate.pass_burst([face], door=""), "door name"),
                           (lambda: gate.pass_burst([face], door="gym", subject_id="two words"), "subject id"),
                           (lambda: gate.pass_burst([face, face], door="gym", frame_times=[0.0]), "frame_times")):
            refused = code_of(call)
            assert refused.code is grpc.StatusCode.INVALID_ARGUMENT and says in refused.message, refused.message
        assert gate.pass_burst([face], door="gym").accepted  # still serving


def _small(photo: bytes) -> bytes:
    """The photo shrunk until its face is below the probe minimum (40 px)."""
    image = Image.open(io.BytesIO(photo)).convert("RGB")
    image.thumbnail((90, 90))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def test_every_pass_is_audited_with_its_door_and_reason(server, keys, enrolled):
    with server.client(api_key=keys["admin"]) as admin:
        only_doors(admin, dict(name="gym", groups=["athletes"], hours=ALWAYS), dict(name="lab", groups=["students"]))
    started = time.time()
    with server.client(api_key=keys["gate"], timeout=60) as gate:
        accepted = gate.pass_burst(burst(enrolled["angelina"]), door="gym", track="approach-7")
        gate.pass_burst(burst(enrolled["scarlett"]), door="gym")
        gate.pass_burst(burst(enrolled["angelina"]), door="lab", subject_id="no-such-card")
    with server.client(api_key=keys["gym"]) as gym:
        code_of(lambda: gym.pass_burst([frame(enrolled["angelina"])], door="lab"))
    with server.client(api_key=keys["admin"]) as admin:
        def passes(door: str) -> list:
            found = [e for e in admin.audit(since=started, door=door) if e.rpc == "GateService/Pass"]
            return found if len(found) >= 2 else []

        entries = eventually(lambda: passes("gym"))
        assert [(e.rpc, e.door, e.subject_id, e.decision, e.reason) for e in entries] == [
            ("GateService/Pass", "gym", "angelina", "accept", "ADMITTED"),
            ("GateService/Pass", "gym", "scarlett", "deny", "NOT_ALLOWED_HERE")]
        first = entries[0]
        assert first.key_name == "lobby-camera" and "track 'approach-7'" in first.detail and "3 frames" in first.detail
        assert first.score is not None and first.score >= first.threshold  # the log keeps what the gate key was not told
        assert accepted.score is None
        lab = eventually(lambda: passes("lab"))
        assert [(e.subject_id, e.decision, e.reason, e.key_name) for e in lab] == [
            ("", "deny", "NO_MATCH", "lobby-camera"), ("", "PERMISSION_DENIED", "", "gym-camera")]
    run = facegrid("audit", "--door", "gym", "--since", "1h", "--json", "--server", server.address, "--api-key", keys["admin"])
    assert run.returncode == 0, run.stderr
    listed = last_json(run.stdout)["entries"]
    assert listed and {e["door"] for e in listed} == {"gym"}
    assert any(e["reason"] == "NOT_ALLOWED_HERE" and e["subject_id"] == "scarlett" for e in listed)


def test_liveness_required_without_a_model_refuses_every_pass(tmp_path, faces_dir):
    server = ServerProcess(tmp_path / "data").start()  # the default: FACEGRID_LIVENESS=require, no model imported
    try:
        with server.client(timeout=60) as client:
            client.enroll("angelina", photos(faces_dir, PEOPLE["angelina"][0])[:1])
            refused = code_of(lambda: client.pass_burst(burst(photos(faces_dir, PEOPLE["angelina"][0])[2]), door="gym"))
            assert refused.code is grpc.StatusCode.FAILED_PRECONDITION
            assert "facegrid models import minifasnet --checkpoint FILE --checkpoint FILE" in refused.message
            assert client.verify("angelina", photos(faces_dir, PEOPLE["angelina"][0])[2]).match  # the rest serves
    finally:
        server.kill()
    log = (tmp_path / "data" / "server.log").read_text()
    assert "Pass (doors) refuses every call with FAILED_PRECONDITION" in log and "facegrid models import minifasnet" in log


def test_groups_status_doors_and_door_keys_survive_a_restart(server, keys, enrolled):
    with server.client(api_key=keys["admin"]) as admin:
        only_doors(admin, dict(name="gym", groups=["athletes"], hours="Mon-Fri 06:00-22:00", timezone="Europe/Berlin",
                               fallback="call the desk"))
    with server.client(api_key=keys["enroll"]) as desk:
        desk.update_subject("katy", groups=["staff", "night-shift"], suspended=True, expires_at=2e9)
    assert server.stop() == 0
    server.start()  # the same data directory: Redis is the system of record
    with server.client(api_key=keys["enroll"]) as desk:
        katy = desk.update_subject("katy")
        assert (katy.groups, katy.status, katy.expires_at) == (["night-shift", "staff"], "suspended", 2e9)
        assert desk.update_subject("katy", suspended=False).active
    with server.client(api_key=keys["admin"]) as admin:
        (gym,) = admin.doors()
        assert (gym.groups, gym.hours, gym.timezone, gym.fallback) == (["athletes"], "Mon-Fri 06:00-22:00", "Europe/Berlin",
                                                                        "call the desk")
    with server.client(api_key=keys["gym"]) as door_key:
        code = code_of(lambda: door_key.pass_burst([frame(enrolled["angelina"])], door="pool")).code
        assert code is grpc.StatusCode.PERMISSION_DENIED
