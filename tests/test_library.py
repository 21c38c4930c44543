"""Photo libraries over a real socket: bulk indexing (resumable, bad files), search by photo and by vector."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
from PIL import Image

from facegrid.clients.sdk import FacegridError

from helpers import facegrid, last_json, running_server


@pytest.fixture(scope="module")
def server(tmp_path_factory, faces_dir):
    with running_server(tmp_path_factory.mktemp("library")) as server:
        yield server


@pytest.fixture(scope="module")
def album(tmp_path_factory, faces_dir):
    """A folder of real photos plus the awkward cases a real library has."""
    folder = tmp_path_factory.mktemp("album")
    for person in ("id01_angelina_jolie", "id10_katy_perry", "id11_matt_damon"):
        (folder / person).mkdir()
        for photo in sorted((faces_dir / "deepface" / person).iterdir())[:3]:
            shutil.copy(photo, folder / person / photo.name)
    shutil.copy(faces_dir / "dlib" / "unlabeled" / "2008_002470.jpg", folder / "group.jpg")
    shutil.copy(folder / "id10_katy_perry" / sorted(os.listdir(folder / "id10_katy_perry"))[0], folder / "same-photo-again.jpg")
    (folder / "notes.jpg").write_text("not a photo at all")
    (folder / "empty.png").write_bytes(b"")
    data = (folder / "group.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (folder / "loop").symlink_to(folder, target_is_directory=True)  # never followed
    (folder / "dangling.jpg").symlink_to(folder / "no-such-file.jpg")
    return folder


@pytest.fixture(scope="module")
def indexed_album(server, album) -> dict:
    """The album indexed into collection `album` once, by the `facegrid index` command: its JSON report."""
    run = facegrid("index", str(album), "--server", server.address, "--json", "--collection", "album")
    assert run.returncode == 0, run.stderr[-2000:]
    return last_json(run.stdout)


def test_index_a_folder_then_resume_without_indexing_twice(server, album, indexed_album):
    report = indexed_album
    assert report["photos"] == 15  # 9 portraits, group, duplicate, 4 bad files (the loop is not entered)
    assert report["indexed"] == 10 and report["already_indexed"] == 1  # the same photo under a second name
    assert report["faces"] >= 15
    failed = report["failed"]
    assert set(os.path.basename(p) for p in failed) == {"notes.jpg", "empty.png", "truncated.jpg", "dangling.jpg"}
    assert "not an image" in failed[str(album / "notes.jpg")]

    again = last_json(facegrid("index", str(album), "--server", server.address, "--json", "--collection", "album").stdout)
    assert again["indexed"] == 0 and again["already_indexed"] == 11 and again["faces"] == 0
    with server.client() as client:
        stats = client.stats("album")
        assert stats.photos == 10 and stats.faces == report["faces"] and stats.dim == 256


def test_search_by_photo_finds_the_same_person(server, indexed_album, faces_dir):
    probe = sorted((faces_dir / "deepface" / "id10_katy_perry").iterdir())[5]  # not in the album
    with server.client() as client:
        reply = client.search(photo=probe, k=3, collection="album")
    best = reply.queries[0].hits[0]
    assert "katy_perry" in best.paths[0] and best.score > 0.6
    # The duplicate photo was indexed once, with both of its paths.
    duplicate = [h for q in reply.queries for h in q.hits if len(h.paths) == 2]
    assert duplicate and any(p.endswith("same-photo-again.jpg") for p in duplicate[0].paths)


def test_search_by_vector_and_bad_queries(server, album, indexed_album):
    with server.client() as client:
        vector = client.search(photo=album / "id01_angelina_jolie" / sorted(os.listdir(album / "id01_angelina_jolie"))[0],
                               k=1, collection="album").queries[0].hits[0]
        embedded = client.embed(album / "id01_angelina_jolie" / sorted(os.listdir(album / "id01_angelina_jolie"))[0]).faces[0].vector
        hits = client.search(vector=np.array(embedded), k=2, collection="album").queries[0].hits
        assert hits[0].face_id == vector.face_id and hits[0].score == pytest.approx(1.0, abs=1e-4)
        for bad in ([0.1] * 128, [float("nan")] * 256):
            with pytest.raises(FacegridError) as caught:
                client.search(vector=bad, collection="album")
            assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
        for k in (0, 10**9):
            with pytest.raises(FacegridError) as caught:
                client.search(vector=np.array(embedded), k=k, collection="album")
            assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(FacegridError) as caught:
            client.search(vector=np.array(embedded), collection="no-such-collection")
        assert caught.value.code == grpc.StatusCode.NOT_FOUND
        assert client.stats("album").photos == 10  # nothing lost


def test_one_stream_answers_each_photo_without_waiting_for_more(server, album):
    """A client may wait for each result before sending the next photo; batching must not stall it."""
    photos = sorted((album / "id11_matt_damon").iterdir())[:2]
    answered = threading.Event()
    stalled = []

    def one_at_a_time():
        for photo in photos:
            answered.clear()
            yield str(photo), photo.read_bytes()
            if not answered.wait(20):
                stalled.append(photo.name)
                return

    with server.client() as client:
        results = []
        for result in client.index_photos(one_at_a_time(), "one-at-a-time"):
            results.append(result)
            answered.set()
    assert not stalled and [r.error for r in results] == ["", ""] and all(r.faces >= 1 for r in results)


def test_one_photo_twice_in_one_stream_is_indexed_once_with_both_paths(server, album):
    photo = sorted((album / "id01_angelina_jolie").iterdir())[0]
    data = photo.read_bytes()
    with server.client() as client:
        results = list(client.index_photos([("first/name.jpg", data), ("second/name.jpg", data)], "twice"))
        assert [r.already_indexed for r in results] == [False, True]
        assert results[0].faces == results[1].faces >= 1
        assert client.stats("twice").photos == 1 and client.stats("twice").faces == results[0].faces
        hit = client.search(photo=photo, k=1, collection="twice").queries[0].hits[0]
    assert sorted(hit.paths) == ["first/name.jpg", "second/name.jpg"]


def _children(pid: int) -> list[int]:
    """Live processes whose parent is `pid` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def test_a_killed_server_leaves_no_processes_behind(server_factory, album):
    server = server_factory()
    photo = sorted((album / "id10_katy_perry").iterdir())[0]
    with server.client() as client:
        assert list(client.index_photos([(str(photo), photo.read_bytes())], "kill"))[0].faces >= 1
    children = _children(server.process.pid)
    assert len(children) >= 2  # the embedding workers and the embedded Redis
    server.kill()  # SIGKILL: nothing of ours runs to clean up
    deadline = time.monotonic() + 15
    while any(_alive(p) for p in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p for p in children if _alive(p)]


@pytest.mark.slow
def test_index_survives_sigkill_half_way(server_factory, tmp_path, faces_dir):
    import subprocess
    import sys
    import time

    folder = tmp_path / "lfw-part"
    lfw = faces_dir / "lfw"
    people = sorted(p for p in lfw.iterdir() if p.is_dir())[:120]
    for person in people:
        shutil.copytree(person, folder / person.name)
    total = sum(1 for _ in folder.rglob("*.jpg"))
    server = server_factory(tmp_path / "data")
    command = [sys.executable, "-m", "facegrid.clients.cli", "index", str(folder), "--server", server.address, "--json"]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    with server.client() as client:
        while True:
            time.sleep(0.5)
            try:
                if client.stats("photos").photos >= total // 3:
                    break
            except FacegridError:
                pass
    server.kill()  # the server dies mid-stream, SIGKILL
    first.wait(timeout=60)
    server = server_factory(tmp_path / "data")
    report = last_json(facegrid("index", str(folder), "--server", server.address, "--json").stdout)
    assert report["indexed"] + report["already_indexed"] == total and not report["failed"]
    assert report["already_indexed"] >= total // 3
    with server.client() as client:
        assert client.stats("photos").photos == total  # every photo exactly once


def test_group_by_person_with_contact_sheet_and_links(server, faces_dir, tmp_path):
    folder = tmp_path / "people"
    chosen = {"angelina": "id01_angelina_jolie", "katy": "id10_katy_perry", "matt": "id11_matt_damon"}
    for short, person in chosen.items():
        (folder / short).mkdir(parents=True)
        for photo in sorted((faces_dir / "deepface" / person).iterdir())[:4]:
            shutil.copy(photo, folder / short / photo.name)
    late = sorted((faces_dir / "deepface" / "id10_katy_perry").iterdir())[4]
    html = tmp_path / "groups.html"
    run = facegrid("index", str(folder), "--server", server.address, "--collection", "people", "--json")
    assert run.returncode == 0, run.stderr[-2000:]
    run = facegrid("group", "--collection", "people", "--html", str(html), "--links", str(tmp_path / "links"),
                   "--server", server.address, "--json")
    assert run.returncode == 0, run.stderr[-2000:]
    summary = last_json(run.stdout)
    with server.client() as client:
        groups = client.groups("people")
    # Each of the three people is one group of their own photos (a stray background face may add a small group).
    by_person = {}
    for group in groups.groups:
        owners = {os.path.basename(os.path.dirname(f.paths[0])) for f in group.faces}
        if len(group.faces) >= 3:
            assert len(owners) == 1, owners
            by_person[owners.pop()] = len(group.faces)
    assert set(by_person) == set(chosen) and all(size >= 3 for size in by_person.values())
    assert summary["thumbnails"] == sum(len(g.faces) for g in groups.groups)
    linked = sorted(p.name for p in (tmp_path / "links").iterdir())
    assert linked[:3] == ["person-0001", "person-0002", "person-0003"]

    # A photo indexed after the clustering joins its person's group at once.
    shutil.copy(late, folder / "katy" / late.name)
    facegrid("index", str(folder), "--server", server.address, "--collection", "people", "--json")
    with server.client() as client:
        after = client.groups("people")
    katy_group = next(g for g in after.groups if "katy" in g.faces[0].paths[0])
    assert any(f.paths[0].endswith(late.name) for f in katy_group.faces)

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed: the contact sheet was written but not rendered")
    import subprocess

    dump = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'chrome'}",
         "--virtual-time-budget=3000", "--dump-dom", html.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert dump.returncode == 0, dump.stderr[-2000:]
    assert dump.stdout.count('class="group"') == len(groups.groups)
    assert dump.stdout.count("<img") == summary["thumbnails"]
    # Every thumbnail decodes in the browser: ask it for the images' natural sizes.
    probe = tmp_path / "probe.html"
    probe.write_text(html.read_text().replace(
        "</html>",
        "<script>window.onload=()=>{const bad=[...document.images].filter(i=>!i.complete||i.naturalWidth===0).length;"
        "document.title='broken:'+bad;}</script></html>"))
    rendered = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'chrome2'}",
         "--virtual-time-budget=3000", "--dump-dom", probe.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert "<title>broken:0</title>" in rendered.stdout


def test_a_photo_with_thirty_faces(server, faces_dir, tmp_path):
    from PIL import Image

    portraits = sorted((faces_dir / "lfw").glob("A*/*_0001.jpg"))[:30]
    sheet = Image.new("RGB", (6 * 250, 5 * 250))
    for number, path in enumerate(portraits):
        sheet.paste(Image.open(path), ((number % 6) * 250, (number // 6) * 250))
    folder = tmp_path / "crowd"
    folder.mkdir()
    sheet.save(folder / "thirty.jpg", quality=92)
    report = last_json(facegrid("index", str(folder), "--server", server.address, "--collection", "crowd", "--json").stdout)
    assert report["indexed"] == 1 and report["faces"] >= 29  # one face per portrait (a background face may add one)
    with server.client() as client:
        reply = client.search(photo=portraits[7], k=1, collection="crowd")
        assert reply.queries[0].hits[0].score > 0.9  # the same picture, pasted into the crowd


def test_corrections_are_kept_by_later_clusterings_and_can_be_undone(server, faces_dir, tmp_path):
    folder = tmp_path / "corr"
    for person in ("id01_angelina_jolie", "id11_matt_damon"):
        (folder / person).mkdir(parents=True)
        for photo in sorted((faces_dir / "deepface" / person).iterdir())[:3]:
            shutil.copy(photo, folder / person / photo.name)
    facegrid("index", str(folder), "--server", server.address, "--collection", "corr", "--json")
    with server.client() as client:
        first = client.cluster("corr")
        big = [g for g in first.groups if len(g.faces) >= 3]
        assert len(big) == 2
        a, b = big[0].group_id, big[1].group_id

        merged = client.merge_groups(a, b, "corr")
        assert max(len(g.faces) for g in merged.groups) == 6
        assert max(len(g.faces) for g in client.cluster("corr").groups) == 6  # kept by a new clustering
        client.undo("corr")
        assert sorted(len(g.faces) for g in client.cluster("corr").groups if len(g.faces) >= 3) == [3, 3]

        group = next(g for g in client.groups("corr").groups if len(g.faces) == 3)
        face = group.faces[0].face_id
        client.split_face(face, "corr")
        again = client.cluster("corr")
        alone = next(g for g in again.groups if any(f.face_id == face for f in g.faces))
        assert len(alone.faces) == 1  # kept apart by the new clustering
        client.undo("corr")

        group = max(client.cluster("corr").groups, key=lambda g: len(g.faces))
        named = client.name_group(group.group_id, "library-person", "corr")
        assert any(g.name == "library-person" for g in named.groups)
        person_folder = os.path.dirname(group.faces[0].paths[0])
        probe = sorted((faces_dir / "deepface" / os.path.basename(person_folder)).iterdir())[4]
        assert client.verify("library-person", probe).match  # the named group is a gate subject
        client.undo("corr")
        with pytest.raises(FacegridError) as caught:
            client.verify("library-person", probe)
        assert caught.value.code == grpc.StatusCode.NOT_FOUND
        with pytest.raises(FacegridError) as caught:
            client.undo("corr")
        assert caught.value.code == grpc.StatusCode.FAILED_PRECONDITION
        with pytest.raises(FacegridError) as caught:
            client.merge_groups(999, 998, "corr")
        assert caught.value.code == grpc.StatusCode.NOT_FOUND


def test_correct_command_line(server, faces_dir, tmp_path):
    folder = tmp_path / "cli-corr"
    (folder / "katy").mkdir(parents=True)
    for photo in sorted((faces_dir / "deepface" / "id10_katy_perry").iterdir())[:3]:
        shutil.copy(photo, folder / "katy" / photo.name)
    facegrid("index", str(folder), "--server", server.address, "--collection", "clicorr", "--json")
    common = ["--collection", "clicorr", "--server", server.address, "--json"]
    grouped = last_json(facegrid("group", *common).stdout)
    assert grouped["groups"] >= 1 and grouped["sizes"][0] >= 3
    named = facegrid("correct", "name", "0", "katy-from-library", *common)
    assert named.returncode == 0 and last_json(named.stdout)["named"] == {"0": "katy-from-library"}
    assert last_json(facegrid("correct", "undo", *common).stdout)["named"] == {}
    nothing = facegrid("correct", "undo", *common)
    assert nothing.returncode == 2 and last_json(nothing.stdout)["error"] == "FAILED_PRECONDITION"


def test_collections_of_plain_vectors(server):
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((50, 3)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with server.client() as client:
        assert client.create_collection("points", 3).dim == 3
        assert client.create_collection("points", 3).model == "vectors"  # idempotent
        with pytest.raises(FacegridError) as caught:
            client.create_collection("points", 4)
        assert caught.value.code == grpc.StatusCode.ALREADY_EXISTS
        added = client.add_vectors("points", range(100, 150), vectors)
        assert added.vectors == 50 and added.faces == 0 and added.photos == 0  # vectors are not faces
        hits = client.search(vector=vectors[7], k=3, collection="points").queries[0].hits
        assert hits[0].vector_id == 107 and hits[0].face_id == "" and hits[0].score == pytest.approx(1.0, abs=1e-5)
        assert client.remove_vectors("points", [107]).vectors == 49
        assert client.stats("points").vectors == 49
        assert client.search(vector=vectors[7], k=1, collection="points").queries[0].hits[0].vector_id != 107
        for bad in ([[1.0, 2.0]], [[float("nan")] * 3]):
            with pytest.raises(FacegridError) as caught:
                client.add_vectors("points", [1], bad)
            assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(FacegridError) as caught:
            client.add_vectors("points", [1, 2], vectors[:1])
        assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(FacegridError) as caught:
            client.create_collection("huge", 10**6)
        assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
        clustered = client.kmeans("points", k=4)
        assert clustered.k == 4 and len(clustered.sizes) == 4 and sum(clustered.sizes) == len(clustered.clusters) == 49
        assert client.kmeans("points").k == 5  # sqrt(49 / 2)
        with pytest.raises(FacegridError) as caught:
            client.kmeans("points", k=1000)
        assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
        results = list(client.index_photos([("x.jpg", b"\xff\xd8")], "points"))
        assert results[0].error_code == "FAILED_PRECONDITION", results[0].error  # a vector collection takes no photos
        assert "plain vectors" in results[0].error


def _index_and_group(server, folder: Path, collection: str):
    run = facegrid("index", str(folder), "--server", server.address, "--collection", collection, "--json")
    assert run.returncode == 0, run.stderr[-2000:]
    with server.client() as client:
        return max(client.cluster(collection).groups, key=lambda g: len(g.faces))


def test_naming_then_undo_over_an_existing_subject_leaves_exactly_its_own_templates(server, faces_dir, tmp_path):
    katy = sorted((faces_dir / "deepface" / "id10_katy_perry").iterdir())
    folder = tmp_path / "naming"
    folder.mkdir()
    for photo in katy[6:9]:
        shutil.copy(photo, folder / photo.name)
    group = _index_and_group(server, folder, "naming")
    with server.client() as client:
        client.enroll("katy-existing", katy[:2])
        before = sorted(t.template_id for t in client.subject("katy-existing").templates)

        named = client.name_group(group.group_id, "katy-existing", "naming")
        added = [f.template_id for f in named.naming.faces if f.accepted]
        assert added and not named.naming.created
        assert sorted(t.template_id for t in client.subject("katy-existing").templates) == sorted(before + added)

        client.undo("naming")
        assert sorted(t.template_id for t in client.subject("katy-existing").templates) == before
        assert client.verify("katy-existing", katy[4]).match

        # A subject the naming created keeps what was enrolled for it since, and loses only the naming's templates.
        client.name_group(group.group_id, "katy-named", "naming")
        real = client.enroll("katy-named", [katy[3]]).photos[0].template_id
        client.undo("naming")
        assert [t.template_id for t in client.subject("katy-named").templates] == [real]


def test_naming_a_group_applies_the_enrollment_rules(server, faces_dir, tmp_path):
    folder = tmp_path / "tiny"
    folder.mkdir()
    for photo in sorted((faces_dir / "deepface" / "id01_angelina_jolie").iterdir())[6:9]:
        image = Image.open(photo).convert("RGB")
        image.thumbnail((150, 150))  # faces well under the 60 px enrollment minimum, still found
        image.save(folder / f"{photo.stem}.jpg", quality=95)
    group = _index_and_group(server, folder, "tiny")
    with server.client() as client:
        with pytest.raises(FacegridError) as caught:
            client.name_group(group.group_id, "angelina-tiny", "tiny")
        assert caught.value.code == grpc.StatusCode.FAILED_PRECONDITION and "too small" in caught.value.message
        assert not any(g.name for g in client.groups("tiny").groups)  # nothing changed
        with pytest.raises(FacegridError) as missing:
            client.subject("angelina-tiny")
        assert missing.value.code == grpc.StatusCode.NOT_FOUND


def test_indexing_mistakes_of_a_client_get_their_own_codes(server, album):
    """A client's mistakes are not INTERNAL: each says what to do instead."""
    photo = sorted((album / "id01_angelina_jolie").iterdir())[0]
    with server.client() as client:
        results = list(client.index_photos([
            ("hash-first.jpg", b"", "ab" * 32),  # a hash sent before the photo's bytes ever were
            ("nothing.jpg", b"", ""),  # neither bytes nor a hash
            ("not-a-hash.jpg", b"", "xyz"),
            (str(photo), photo.read_bytes()),  # and the stream goes on
        ], "mistakes"))
        codes = [r.error_code for r in results]
        assert codes == ["FAILED_PRECONDITION", "INVALID_ARGUMENT", "INVALID_ARGUMENT", ""], [r.error for r in results]
        assert "send its bytes" in results[0].error
        # Plain vectors into a face collection: FAILED_PRECONDITION too, not ALREADY_EXISTS.
        with pytest.raises(FacegridError) as caught:
            client.add_vectors("mistakes", [1], np.ones((1, 256), np.float32) / 16)
        assert caught.value.code == grpc.StatusCode.FAILED_PRECONDITION and "IndexPhotos" in caught.value.message
        stats = client.stats("mistakes")
        assert stats.photos == 1 and stats.faces >= 1 and stats.vectors == 0
        hit = client.search(photo=photo, k=1, collection="mistakes").queries[0].hits[0]
        assert hit.face_id and hit.vector_id is None and hit.paths == [str(photo)]
