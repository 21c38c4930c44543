"""Forget reaches every file, the data directory is private, and backups restore onto a new machine.

A real `facegrid serve` (embedded Valkey, liveness off) for the module, real photos, the SDK and the CLI; the
conversion of an older Redis and the unnaming of photo groups at the store level, on a Valkey of their own. Forget:
the subject's name, id and template vectors are looked for, byte for byte, in every file under the data
directory until none is left (at most 60 s); a subject not forgotten is still found the same way, so the search
can see what is there. Backup: two people, a door and a door key backed up while the server runs, restored into a
new data directory, and a second server on it recognises both and opens the door for the key; a Forget after the
backup is applied again when the older backup is restored.
"""

from __future__ import annotations

import io
import shutil
import stat
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facegrid.encoder.quality import FaceQuality
from facegrid.server.backup import BackupError, restore_backup, take_backup
from facegrid.server.config import Settings
from facegrid.server.store.audit import AuditStore
from facegrid.server.store.embedded_redis import EmbeddedRedis
from facegrid.server.store.forget_names import unname_subject
from facegrid.server.store.migrate import upgrade_privacy
from facegrid.server.store.library import LibraryStore
from facegrid.server.store.private_files import private_folder, private_tree
from facegrid.server.store.pseudonyms import is_pseudonym
from facegrid.server.store.schema import AUDIT, CHANGES, PRIVACY_KEY
from facegrid.server.store.subjects import NewTemplate, SubjectStore

from helpers import ServerProcess, facegrid, last_json, make_keys, running_server

PEOPLE = {"angelina": "deepface/id01_angelina_jolie", "scarlett": "deepface/id03_scarlett_johansson",
          "katy": "deepface/id10_katy_perry", "jennifer": "deepface/id02_jennifer_aniston"}
HARNESS_FILES = {"server.log"}  # written by ServerProcess (the test), not by facegrid


def photos(faces_dir: Path, subject: str) -> list[bytes]:
    return [p.read_bytes() for p in sorted((faces_dir / PEOPLE[subject]).iterdir()) if p.is_file()]


def frame(photo: bytes) -> bytes:
    image = Image.open(io.BytesIO(photo)).convert("RGB")
    image.thumbnail((640, 640))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def files_holding(folder: Path, needles: dict[str, bytes]) -> dict[str, list[str]]:
    """Which of the needles are in which files under the folder (every file, read as bytes)."""
    found: dict[str, list[str]] = {}
    for path in folder.rglob("*"):
        if path.is_file() and path.name not in HARNESS_FILES:
            data = path.read_bytes()
            for name, needle in needles.items():
                if needle in data:
                    found.setdefault(name, []).append(str(path.relative_to(folder)))
    return found


def on(data_dir: Path) -> Settings:
    """The settings of a server on this data directory (its embedded Redis, its models directory)."""
    return Settings().with_overrides(data_dir=data_dir, redis_url="", models_dir="")


def stored_vectors(data_dir: Path, subject: str) -> list[bytes]:
    """The float32 bytes of the subject's templates, read from the server's Redis through its socket."""
    store = SubjectStore.connect(EmbeddedRedis(data_dir / "redis").url)
    try:
        return [t.vector.tobytes() for t in store.templates(subject)]
    finally:
        store.redis.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, faces_dir):
    with running_server(tmp_path_factory.mktemp("protection"), args=["--liveness", "off"]) as server:
        yield server


@pytest.fixture(scope="module")
def admin_key(server) -> str:
    return make_keys(server, {}, admin_scopes=("admin", "enroll", "gate"))["admin"]


def test_the_data_directory_and_its_files_are_the_owners_alone(server, admin_key):
    mode = stat.S_IMODE(server.data_dir.stat().st_mode)
    assert mode == 0o700, oct(mode)
    loose = {str(p.relative_to(server.data_dir)): oct(stat.S_IMODE(p.lstat().st_mode)) for p in server.data_dir.rglob("*")
             if p.name not in HARNESS_FILES and stat.S_IMODE(p.lstat().st_mode) & 0o077}
    assert not loose
    assert (server.data_dir / "redis" / "appendonlydir").is_dir()


def test_forget_removes_name_id_and_vectors_from_every_file_within_60_s(server, admin_key, faces_dir):
    gone, kept = "zq-forget-7", "keeper-3"
    with server.client(api_key=admin_key, timeout=120) as desk:
        desk.enroll(gone, photos(faces_dir, "katy")[:2], display_name="Zebulon Quagmire-Forgetme")
        desk.enroll(kept, photos(faces_dir, "jennifer")[:2], display_name="Keeper Unforgotten")
        assert desk.verify(gone, photos(faces_dir, "katy")[2]).match  # an audit entry about it, before the Forget
        vectors = stored_vectors(server.data_dir, gone)
        assert len(vectors) == 2 and all(len(v) > 256 for v in vectors)
        needles = {"name": b"Zebulon Quagmire-Forgetme", "id": gone.encode(),
                   **{f"vector {i}": v for i, v in enumerate(vectors)}}
        control = {"name": b"Keeper Unforgotten", "vector": stored_vectors(server.data_dir, kept)[0]}
        assert set(files_holding(server.data_dir, needles)) == set(needles)  # on disk now, where the search finds them

        assert desk.forget(gone) == 2
        forgotten_at = time.monotonic()
        while (left := files_holding(server.data_dir, needles)) and time.monotonic() - forgotten_at < 60:
            time.sleep(0.25)
        took = time.monotonic() - forgotten_at
        assert not left, f"still on disk {took:.0f} s after Forget: {left}"
        print(f"forget scrub: name, id and vectors gone from every file {took:.1f} s after Forget")
        assert set(files_holding(server.data_dir, control)) == set(control)  # what was not forgotten is still seen

        # The audit names the forgotten subject by its pseudonym only, its earlier entries too; its id finds them.
        def entries() -> list:
            return [e for e in desk.audit(subject=gone) if e.rpc in ("GateService/Enroll", "GateService/Verify",
                                                                       "GateService/Forget")]
        deadline = time.monotonic() + 10
        while len(entries()) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        about = entries()
        assert {e.rpc for e in about} == {"GateService/Enroll", "GateService/Verify", "GateService/Forget"}
        assert len({e.subject_id for e in about}) == 1 and is_pseudonym(about[0].subject_id)
        assert all(gone not in e.subject_id for e in desk.audit())
        assert any(e.subject_id == kept for e in desk.audit(subject=kept))  # an enrolled subject reads as its id
    assert not files_holding(server.data_dir, needles)  # the audit's writes since brought nothing back


def test_backup_restores_onto_a_new_data_directory_and_a_forget_since_is_applied_again(server, admin_key, faces_dir,
                                                                                      tmp_path):
    with server.client(api_key=admin_key, timeout=120) as admin:
        for subject in ("angelina", "scarlett"):
            admin.enroll(subject, photos(faces_dir, subject)[:2], display_name=subject.title(), groups=["athletes"])
        admin.set_door("gym", groups=["athletes"])
        door_key = admin.create_key("gym-camera", ["gate"], door="gym").key
    models = private_folder(server.data_dir / "models" / "minifasnet")  # an imported model's folder stands for every one
    (models / "liveness.json").write_text('{"stand-in": "backed up as it is"}')
    private_tree(models)  # owner-only, as facegrid keeps its data directory (the permissions test may run after this one)
    backups = tmp_path / "backups"

    made = facegrid("backup", str(backups), "--data-dir", str(server.data_dir), "--json")  # while the server runs
    assert made.returncode == 0, made.stderr
    first = Path(last_json(made.stdout)["path"])
    assert last_json(made.stdout)["redis"]["kind"] == "rdb"
    assert stat.S_IMODE(backups.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) & 0o077 == 0 for p in first.rglob("*"))
    assert not list((server.data_dir / "redis").glob("*.rdb*"))  # no snapshot left behind in the data directory

    restored = tmp_path / "restored"
    run = facegrid("restore", str(backups), "--data-dir", str(restored), "--json")
    assert run.returncode == 0, run.stderr
    assert (restored / "models" / "minifasnet" / "liveness.json").read_text() == (models / "liveness.json").read_text()
    again = facegrid("restore", str(first), "--data-dir", str(restored))
    assert again.returncode == 2 and "--force" in again.stderr  # a data directory with data is not overwritten

    second_server = ServerProcess(restored, args=["--liveness", "off"]).start()
    try:
        with second_server.client(api_key=admin_key, timeout=120) as admin:
            for subject in ("angelina", "scarlett"):
                assert admin.identify(photos(faces_dir, subject)[3]).subject == subject
            assert [d.name for d in admin.doors()] == ["gym"]
        with second_server.client(api_key=door_key) as door:
            passed = door.pass_burst([frame(photos(faces_dir, "angelina")[3])] * 3, door="gym")
            assert (passed.decision, passed.subject) == ("ACCEPT", "angelina")
    finally:
        second_server.kill()

    # Forgotten after the first backup: a second backup records it, and restoring the first forgets it again.
    with server.client(api_key=admin_key) as admin:
        admin.forget("scarlett")
    take_backup(on(server.data_dir), backups)
    older = tmp_path / "older"
    assert len(restore_backup(on(older), first).forgotten_again) == 1
    embedded = EmbeddedRedis(older / "redis").start()
    try:
        store = SubjectStore.connect(embedded.url)
        assert store.subject("scarlett") is None and store.subject("angelina") is not None
        store.redis.close()
    finally:
        embedded.stop()
    assert not files_holding(older, {"scarlett": b"Scarlett"})  # never written to the restored files

    # A damaged backup is refused before anything is touched; --keep-days deletes the older backups.
    damaged = tmp_path / "damaged"
    shutil.copytree(first, damaged)
    with open(damaged / "redis" / "dump.rdb", "r+b") as rdb:
        rdb.seek(100)
        byte = rdb.read(1)
        rdb.seek(100)
        rdb.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(BackupError, match="SHA-256"):
        restore_backup(on(tmp_path / "never"), damaged)
    assert not (tmp_path / "never").exists()
    assert len(take_backup(on(server.data_dir), backups, keep_days=0).pruned) == 2 and len(list(backups.iterdir())) == 1


def test_restore_refuses_a_data_directory_its_server_is_running_on(server, admin_key, tmp_path):
    backup = take_backup(on(server.data_dir), tmp_path).path
    with pytest.raises(BackupError, match="stop it"):
        restore_backup(on(server.data_dir), backup, force=True)
    with server.client(api_key=admin_key) as client:
        assert client.health() == "SERVING"


def test_an_older_redis_gets_pseudonyms_and_a_forget_unnames_photo_groups(tmp_path):
    """Store level, on a Valkey of its own: an audit log and change feed written with subject ids (as before this
    version) are converted at start, entry ids kept; a Forget relabels the collection pins that named the subject."""
    embedded = EmbeddedRedis(tmp_path / "redis").start()
    try:
        store = SubjectStore.connect(embedded.url)
        client = store.redis
        store.add_templates("ann", [NewTemplate("fused", np.ones(8, np.float32), "p1", FaceQuality.from_dict({}))])
        client.delete("{fg}:pseudonyms", PRIVACY_KEY)  # as a Redis of before pseudonyms has it
        old = [client.xadd(AUDIT, {"rpc": "GateService/Verify", "subject": subject, "decision": "match"})
               for subject in ("ann", "ann", "bob")]
        client.xadd(CHANGES, {"kind": "subject_changed", "subject": "ann", "number": 1})

        assert upgrade_privacy(client) == 3 and upgrade_privacy(client) == 0
        raw = client.xrange(AUDIT)
        assert [i for i, _ in raw] == old and all(f[b"subject"].startswith(b"~") for _, f in raw)
        assert client.xlen(CHANGES) == 0
        entries, _ = AuditStore(client).read()
        assert [e.subject_id for e in entries][:2] == ["ann", "ann"] and entries[2].subject_id.startswith("~")
        assert len(AuditStore(client).read(subject_id="bob")[0]) == 1  # the id still finds its entries

        library = LibraryStore(client)
        library.collections.create("album", "fused", 8)
        library.grouping.apply_correction("album", {1: "ann", 2: "ann", 3: "~group-x"}, {}, {"action": "name", "subject": "ann",
                                                                                   "before": {"1": ["", 0]}})
        store.delete_subject("ann")
        label = store.pseudonyms.of("ann")
        assert unname_subject(client, "ann", label) == 3
        assert library.grouping.pins("album") == {1: label, 2: label, 3: "~group-x"}
        assert library.grouping.pop_correction("album")["subject"] == label
        assert AuditStore(client).read()[0][0].subject_id == label  # forgotten: its entries show the pseudonym
        client.close()
    finally:
        embedded.stop()
