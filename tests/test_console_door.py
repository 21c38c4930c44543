"""The console's Door, Keys, Models and Health pages in a real browser over a real server.

One `facegrid serve --http` for the module (liveness off, so Pass decides; probe thumbnails kept 2 days), Debian's
chromium through chromium-driver for what needs a browser (one browser for the module, switched between laptop and
phone sizes), plain `requests` for the rest. Two people enrolled from real photos; doors `lobby` (students) and
`gym` (athletes). Pass is called over gRPC with the SDK and over REST, so both transports are seen in the door view.
Thumbnails kept "off" (the default) is checked on the wiring that builds the Pass use case: no server is started
for it. Screenshots go to FACEGRID_CONSOLE_SCREENSHOTS where that names a folder (docs/console-*.png were made so).
"""

from __future__ import annotations

import io
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest
import redis
import requests
from PIL import Image

from facegrid.server.config import Settings
from facegrid.server.domain.door_watch import CLOSED, LIVE, SILENT, watch
from facegrid.server.domain.probe_thumbnails import face_thumbnail
from facegrid.server.main import probe_thumbnails
from facegrid.server.store.doors import DoorRecord
from facegrid.server.store.probe_thumbnails import ProbeThumbnailStore
from facegrid.server.store.schema import probe_key, subject_probes_key

from helpers.door_frames import frame, photos
from helpers import LAPTOP, PHONE, at_size, chromium, eventually, make_keys, not_blank, running_server

SCARLETT = "deepface/id03_scarlett_johansson"
KATY = "deepface/id10_katy_perry"
STRANGER = "deepface/id11_matt_damon"
THUMBNAIL_DAYS = 2




def burst(photo: bytes) -> list[bytes]:
    return [frame(photo, crop) for crop in (0.0, 0.03)]



def signed_in(url: str, key: str) -> requests.Session:
    """A plain HTTP client signed in to the console with `key` through the sign-in form."""
    client = requests.Session()
    answer = client.post(f"{url}/ui/sign-in", data={"key": key, "next": ""}, allow_redirects=False, timeout=30)
    assert answer.status_code == 303, answer.text[:300]
    return client


def rows(html: str) -> list[dict[str, str]]:
    """The decisions of a door view: door, subject, decision, reason and thumbnail of each row."""
    found = []
    for row in re.findall(r"<tr data-decision=.*?</tr>", html, re.S):
        text = [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        thumbnail = re.search(r'src="(/ui/door/probe/[^"]+)"', row)
        found.append({"door": text[1], "decision": text[2], "reason": text[3], "subject": text[4],
                      "thumbnail": thumbnail.group(1) if thumbnail else ""})
    return found


@pytest.fixture(scope="module")
def server(tmp_path_factory, faces_dir):
    env = {"FACEGRID_PROBE_THUMBNAILS_DAYS": str(THUMBNAIL_DAYS)}
    with running_server(tmp_path_factory.mktemp("console-door"), env=env,
                        args=["--http", "127.0.0.1:0", "--liveness", "off"]) as server:
        yield server


@pytest.fixture(scope="module")
def keys(server) -> dict[str, str]:
    """An admin key (scopes admin, enroll, embed, gate: the operator's) and a gate-only key."""
    return make_keys(server, {"gate": ("lobby-camera", ["gate"])}, admin_scopes=("admin", "enroll", "embed", "gate"))


@pytest.fixture(scope="module")
def store(server) -> redis.Redis:
    """The server's embedded Redis, read directly (what is kept, and for how long)."""
    return redis.Redis(unix_socket_path=str(server.data_dir / "redis" / "redis.sock"))


@pytest.fixture(scope="module")
def people(server, keys, faces_dir) -> dict[str, list[bytes]]:
    """scarlett (students) and katy (athletes) enrolled from two photos each; doors lobby and gym; their photos."""
    shots = {name: photos(faces_dir, folder) for name, folder in (("scarlett", SCARLETT), ("katy", KATY), ("stranger", STRANGER))}
    with server.client(api_key=keys["admin"], timeout=120) as admin:
        admin.enroll("scarlett", shots["scarlett"][:2], groups=["students"])
        admin.enroll("katy", shots["katy"][:2], groups=["athletes"])
        admin.set_door("lobby", groups=["students"], fallback="call the desk")
        admin.set_door("gym", groups=["athletes"])
    return shots


@pytest.fixture(scope="module")
def admin_http(server, keys) -> requests.Session:
    return signed_in(server.http_url, keys["admin"])


@pytest.fixture(scope="module")
def browser(server, keys):
    """One chromium for the module, signed in with the admin key through the form."""
    from selenium.webdriver.common.by import By

    with chromium(LAPTOP) as driver:
        driver.get(f"{server.http_url}/ui")
        driver.find_element(By.ID, "key").send_keys(keys["admin"])
        driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        eventually(lambda: driver.current_url.endswith("/ui/home"))
        yield driver


def wait_for(driver, condition, seconds: float = 15.0):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds, poll_frequency=0.2).until(condition)


# ---- signing in -----------------------------------------------------------------------------------------------

def test_signing_in_with_the_form_gives_an_http_only_strict_cookie_that_holds_no_key(server, keys, browser):
    cookie = next(c for c in browser.get_cookies() if c["name"] == "facegrid_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/ui"
    assert keys["admin"] not in cookie["value"] and keys["admin"][4:] not in cookie["value"]
    answer = requests.post(f"{server.http_url}/ui/sign-in", data={"key": keys["admin"]}, allow_redirects=False, timeout=30)
    header = answer.headers["set-cookie"]
    assert "httponly" in header.lower() and "samesite=strict" in header.lower() and keys["admin"] not in header


# ---- the door view ---------------------------------------------------------------------------------------------

def test_a_pass_appears_in_the_live_door_view_with_its_probe_thumbnail(server, keys, people, browser, admin_http, store):
    from selenium.webdriver.common.by import By

    at_size(browser, LAPTOP)
    browser.get(f"{server.http_url}/ui/door")
    with server.client(api_key=keys["gate"], timeout=60) as door:  # over gRPC, as a door client calls
        admitted = door.pass_burst(burst(people["scarlett"][2]), door="lobby")
        stranger = door.pass_burst(burst(people["stranger"][0]), door="lobby")
    assert (admitted.decision, admitted.subject, stranger.decision, stranger.reason) == ("ACCEPT", "scarlett", "DENY", "UNKNOWN_PERSON")
    # The page was open before the Pass: its live list picks the decision up by itself, thumbnail and all.
    row = wait_for(browser, lambda d: next((r for r in d.find_elements(By.CSS_SELECTOR, "#decisions tr[data-decision]")
                                            if "scarlett" in r.text and "ACCEPT" in r.text), None))
    assert "lobby" in row.text and "ADMITTED" in row.text and "not checked" in row.text
    image = row.find_element(By.CSS_SELECTOR, "img.thumb")
    assert wait_for(browser, lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image)) > 0
    assert "UNKNOWN_PERSON" in browser.find_element(By.ID, "decisions").text

    listed = rows(admin_http.get(f"{server.http_url}/ui/live/door", timeout=30).text)
    assert [(r["subject"], r["decision"], r["reason"]) for r in listed[:2]] == [
        ("nobody recognised", "DENY", "UNKNOWN_PERSON"), ("scarlett", "ACCEPT", "ADMITTED")]  # newest first
    thumbnail = admin_http.get(server.http_url + listed[1]["thumbnail"], timeout=30)
    assert thumbnail.status_code == 200 and thumbnail.headers["content-type"] == "image/jpeg"
    assert thumbnail.headers["cache-control"] == "no-store"
    picture = Image.open(io.BytesIO(thumbnail.content))
    assert max(picture.size) <= 96 and len(thumbnail.content) < 20_000
    # Kept in Redis for the retention period, listed under the subject for Forget.
    probe_id = listed[1]["thumbnail"].rsplit("/", 1)[1]
    assert THUMBNAIL_DAYS * 86400 - 600 < store.ttl(probe_key(probe_id)) <= THUMBNAIL_DAYS * 86400
    assert store.sismember(subject_probes_key("scarlett"), probe_id)
    # Nobody without an admin session gets it: no session, a key in a header (the API has no such route).
    assert requests.get(server.http_url + listed[1]["thumbnail"], allow_redirects=False, timeout=30).status_code == 303
    assert requests.get(server.http_url + listed[1]["thumbnail"], headers={"Authorization": f"Bearer {keys['admin']}"},
                        allow_redirects=False, timeout=30).status_code == 303


def test_the_door_list_filters_by_door_subject_and_reason_and_the_refresh_keeps_the_filter(server, keys, people, browser,
                                                                                           admin_http):
    from selenium.webdriver.common.by import By

    with server.client(api_key=keys["gate"], timeout=60) as door:
        assert door.pass_burst(burst(people["katy"][2]), door="gym").decision == "ACCEPT"
        assert door.pass_burst(burst(people["scarlett"][3]), door="gym").reason == "NOT_ALLOWED_HERE"
    # Over REST too: the same decision, the same audit entry, a thumbnail as well.
    answer = requests.post(f"{server.http_url}/v1/pass", headers={"Authorization": f"Bearer {keys['gate']}"}, timeout=60,
                           data={"door": "gym"}, files=[("frames", (f"{i}.jpg", f, "image/jpeg")) for i, f in
                                                        enumerate(burst(people["stranger"][1]))])
    assert answer.status_code == 200 and answer.json()["reason"] == "UNKNOWN_PERSON"

    def listed(query: str) -> list[dict[str, str]]:
        return eventually(lambda: rows(admin_http.get(f"{server.http_url}/ui/live/door{query}", timeout=30).text))

    gym = eventually(lambda: (lambda found: len(found) == 3 and found)(listed("?door=gym")))
    assert {r["door"] for r in gym} == {"gym"} and len(gym) == 3 and all(r["thumbnail"] for r in gym)
    assert {r["door"] for r in listed("?door=lobby")} == {"lobby"}
    assert {(r["subject"], r["door"]) for r in listed("?subject=scarlett")} == {("scarlett", "lobby"), ("scarlett", "gym")}
    assert {r["reason"] for r in listed("?reason=UNKNOWN_PERSON")} == {"UNKNOWN_PERSON"}
    assert len(listed("?reason=UNKNOWN_PERSON&door=gym")) == 1
    assert admin_http.get(f"{server.http_url}/ui/door?door=Not%20A%20Door", timeout=30).status_code == 400

    # In the browser: the form filters, and the live list keeps the filter as new decisions come.
    at_size(browser, LAPTOP)
    browser.get(f"{server.http_url}/ui/door")
    browser.find_element(By.ID, "f-door").send_keys("gym")
    browser.find_element(By.CSS_SELECTOR, ".filters button[type=submit]").click()
    wait_for(browser, lambda d: "door=gym" in d.current_url)
    before = browser.find_element(By.ID, "decisions").text
    with server.client(api_key=keys["gate"], timeout=60) as door:
        door.pass_burst(burst(people["scarlett"][4]), door="lobby")  # not shown: another door
        door.pass_burst(burst(people["katy"][3]), door="gym")  # shown
    wait_for(browser, lambda d: d.find_element(By.ID, "decisions").text.count("ADMITTED") == before.count("ADMITTED") + 1)
    shown = browser.find_elements(By.CSS_SELECTOR, "#decisions tr[data-decision] td:nth-child(2)")
    assert {cell.text for cell in shown} == {"gym"}


def test_a_door_view_counts_the_last_hour_by_reason(server, people, admin_http):
    page = eventually(lambda: (lambda html: "UNKNOWN_PERSON" in html and html)(
        admin_http.get(f"{server.http_url}/ui/door/lobby", timeout=30).text))
    counts = dict((label.strip(), int(value)) for value, label in re.findall(r"<div><b[^>]*>(\d+)</b>([^<]+)</div>", page))
    listed = rows(page)
    assert counts["decisions"] == len(listed) and counts["accepted"] == sum(r["decision"] == "ACCEPT" for r in listed)
    assert counts["UNKNOWN_PERSON"] == 1 and counts["accepted"] >= 1 and {r["door"] for r in listed} == {"lobby"}
    assert "call the desk" in page and "students" in page  # the door's rule
    doors = admin_http.get(f"{server.http_url}/ui/door", timeout=30).text
    assert re.search(r"gym</a></td>\s*<td>athletes</td>\s*<td>always open</td>", doors)
    assert len(re.findall(r"last Pass \d+ min ago", doors)) == 2 and "silent:" not in doors  # both saw a Pass just now


def test_forget_removes_the_subjects_probe_thumbnails_and_a_strangers_stay(server, keys, people, admin_http, store):
    before = rows(admin_http.get(f"{server.http_url}/ui/live/door?door=lobby", timeout=30).text)
    hers = [r["thumbnail"] for r in before if r["subject"] == "scarlett"]
    strangers = [r["thumbnail"] for r in before if r["subject"] == "nobody recognised"]
    assert hers and strangers and all(hers + strangers)
    # A Pass decided just as she is forgotten cannot leave one behind: the write checks she is still enrolled.
    with store.pipeline(transaction=False) as pipe:
        ProbeThumbnailStore.put(pipe, "late-write-after-forget", b"jpeg", 60, "nobody-enrolled")
        pipe.execute()
    assert not store.exists(probe_key("late-write-after-forget"))

    with server.client(api_key=keys["admin"], timeout=60) as admin:
        admin.forget("scarlett")
    assert not store.exists(subject_probes_key("scarlett"))
    assert all(admin_http.get(server.http_url + url, timeout=30).status_code == 404 for url in hers)
    assert all(admin_http.get(server.http_url + url, timeout=30).status_code == 200 for url in strangers)
    after = rows(admin_http.get(f"{server.http_url}/ui/live/door?door=lobby", timeout=30).text)
    assert len(after) == len(before)  # the decisions stay in the audit log, under her pseudonym, without a picture
    assert not any(r["subject"] == "scarlett" for r in after)
    assert all(not r["thumbnail"] for r in after if r["decision"] == "ACCEPT")


def test_probe_thumbnails_are_off_unless_the_operator_sets_a_retention():
    assert Settings().probe_thumbnails_days == 0  # the default
    assert probe_thumbnails(Settings(probe_thumbnails_days=0), None, None) is None  # nothing keeps them
    with pytest.raises(ValueError, match="FACEGRID_PROBE_THUMBNAILS_DAYS"):
        probe_thumbnails(Settings(probe_thumbnails_days=-1), None, None)
    with pytest.raises(ValueError):
        probe_thumbnails(Settings(probe_thumbnails_days=float("nan")), None, None)


def test_a_thumbnail_is_a_small_square_jpeg_of_the_face_with_a_margin():
    pixels = np.full((480, 640, 3), 200, np.uint8)
    pixels[100:300, 200:360] = (30, 60, 90)  # the "face"
    jpeg = face_thumbnail(pixels, (200.0, 100.0, 160.0, 200.0))
    picture = Image.open(io.BytesIO(jpeg))
    assert picture.format == "JPEG" and max(picture.size) == 96 and picture.size[0] == picture.size[1]
    corner, centre = picture.getpixel((1, 1)), picture.getpixel((48, 48))
    assert sum(corner) > 500 and sum(centre) < 250  # the margin shows around the face
    edge = face_thumbnail(pixels, (600.0, 440.0, 60.0, 60.0))  # at the frame's corner: cut by the frame, not padded
    assert max(Image.open(io.BytesIO(edge)).size) <= 96


# ---- silent doors ------------------------------------------------------------------------------------------------

def test_a_door_open_by_its_hours_with_no_pass_for_n_minutes_is_silent():
    now = 1_767_265_200.0  # Thursday 2026-01-01 12:00 in Europe/Berlin (11:00 UTC)
    open_now = DoorRecord("lab", ("staff",), hours="Mon-Sun 08:00-18:00", timezone="Europe/Berlin", updated_at=now - 86400)
    assert watch(DoorRecord(**{**open_now.__dict__, "last_seen_at": now - 300}), now, 15).state == LIVE
    quiet = watch(DoorRecord(**{**open_now.__dict__, "last_seen_at": now - 20 * 60}), now, 15)
    assert quiet.state == SILENT and "no Pass for 15 min while open by its hours" in quiet.why and "20 min ago" in quiet.why
    never = watch(open_now, now, 15)
    assert never.state == SILENT and "never seen" in never.why
    assert watch(DoorRecord(**{**open_now.__dict__, "updated_at": now - 60}), now, 15).state == LIVE  # just set up
    # Opened at 12:00 local only five minutes ago: nobody was expected for the whole window.
    opening = DoorRecord("lab", ("staff",), hours="Mon-Sun 11:55-18:00", timezone="Europe/Berlin", updated_at=now - 86400)
    assert watch(opening, now, 15).state == CLOSED
    closed = DoorRecord("lab", ("staff",), hours="Mon-Sun 13:00-18:00", timezone="Europe/Berlin", updated_at=now - 86400)
    assert watch(closed, now, 15).state == CLOSED
    always = watch(DoorRecord("gate", ("staff",), last_seen_at=now - 3600, updated_at=now - 86400), now, 15)
    assert always.state == SILENT and "always open" in always.why


# ---- keys ------------------------------------------------------------------------------------------------------

def test_a_key_made_in_the_keys_page_is_shown_once_and_revoking_it_ends_its_sessions(server, keys, browser, admin_http):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.expected_conditions import alert_is_present

    at_size(browser, LAPTOP)
    browser.get(f"{server.http_url}/ui/keys")
    browser.find_element(By.ID, "key-name").send_keys("night-desk")
    for scope in ("embed", "gate"):
        browser.find_element(By.CSS_SELECTOR, f"input[name=scopes][value={scope}]").click()
    browser.find_element(By.CSS_SELECTOR, "form[action='/ui/keys/create'] button[type=submit]").click()
    made = wait_for(browser, lambda d: d.find_elements(By.ID, "new-key"))[0].get_attribute("value")
    assert made.startswith("fgk_") and made not in browser.current_url and "shown this once" in browser.page_source
    listing = admin_http.get(f"{server.http_url}/ui/keys", timeout=30).text
    assert "night-desk" in listing and made not in listing and "gate, embed" in listing

    desk = signed_in(server.http_url, made)  # a second browser session, signed in with the new key
    assert desk.get(f"{server.http_url}/ui/models", allow_redirects=False, timeout=30).status_code == 200
    browser.get(f"{server.http_url}/ui/keys")
    revoke = browser.find_element(By.CSS_SELECTOR, "tr[data-key='night-desk'] button[data-confirm]")
    revoke.click()
    wait_for(browser, alert_is_present()).accept()  # the page asks first
    wait_for(browser, lambda d: "is revoked" in d.page_source)
    ended = desk.get(f"{server.http_url}/ui/models", allow_redirects=False, timeout=30)
    assert ended.status_code == 303 and ended.headers["location"].startswith("/ui?next=")

    with server.client(api_key=keys["admin"]) as admin:
        entries = eventually(lambda: [e for e in admin.audit(since=time.time() - 600)
                                      if e.rpc in ("AdminService/CreateKey", "AdminService/RevokeKey") and "night-desk" in e.detail])
    assert {(e.rpc, e.decision, e.key_name) for e in entries} == {
        ("AdminService/CreateKey", "created", "admin"), ("AdminService/RevokeKey", "revoked", "admin")}
    assert all(made not in e.detail for e in entries)
    assert made not in (server.data_dir / "server.log").read_text()


def test_a_form_without_the_csrf_token_or_from_another_site_is_refused(server, admin_http):
    page = admin_http.get(f"{server.http_url}/ui/keys", timeout=30).text
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    no_token = admin_http.post(f"{server.http_url}/ui/keys/create", data={"name": "sneaky", "scopes": "admin"}, timeout=30)
    assert no_token.status_code == 403 and "security token" in no_token.text
    cross_site = admin_http.post(f"{server.http_url}/ui/keys/create", data={"name": "sneaky", "scopes": "admin", "csrf": token},
                                 headers={"Origin": "http://evil.example"}, timeout=30)
    assert cross_site.status_code == 403 and "another site" in cross_site.text
    assert admin_http.post(f"{server.http_url}/ui/keys/revoke", data={"name": "admin"}, timeout=30).status_code == 403
    assert "sneaky" not in admin_http.get(f"{server.http_url}/ui/keys", timeout=30).text
    bad = admin_http.post(f"{server.http_url}/ui/keys/create", data={"name": "two words", "scopes": "gate", "csrf": token},
                          timeout=30)
    assert bad.status_code == 400 and "key names are" in bad.text  # said on the form, the rest kept


def test_a_gate_key_may_not_open_the_door_keys_or_models_pages_but_sees_health(server, keys):
    gate = signed_in(server.http_url, keys["gate"])
    for path in ("/ui/door", "/ui/door/lobby", "/ui/live/door", "/ui/keys", "/ui/door/probe/AAAAAAAAAAAAAAAA"):
        refused = gate.get(server.http_url + path, allow_redirects=False, timeout=30)
        assert refused.status_code == 403 and "needs scope admin" in refused.text, path
    assert gate.get(f"{server.http_url}/ui/models", timeout=30).status_code == 403
    assert gate.get(f"{server.http_url}/ui/health", timeout=30).status_code == 200
    nobody = requests.get(f"{server.http_url}/ui/door", allow_redirects=False, timeout=30)
    assert nobody.status_code == 303 and nobody.headers["location"] == "/ui?next=/ui/door"


# ---- models and health ------------------------------------------------------------------------------------------

def test_the_models_and_health_pages_say_what_runs(server, people, admin_http):
    models = admin_http.get(f"{server.http_url}/ui/models", timeout=30).text
    assert "compares faces with <b>fused</b>" in models and "fused <span class=\"hint\">(default)</span>" in models
    assert "off, no liveness model loaded" in models and "No model folder" in models
    assert str(server.data_dir) not in models  # server paths are not shown
    health = admin_http.get(f"{server.http_url}/ui/health", timeout=30).text
    assert re.search(r'<b class="ok">up</b>Redis', health) and re.search(r"<b>2</b>subjects|<b>1</b>subjects", health)
    assert re.search(r'<b class="warn">off</b>TLS', health) and "<b>2</b>doors" in health


# ---- at a laptop's and a phone's size ------------------------------------------------------------------------------

PAGES = {"door": "/ui/door", "door-lobby": "/ui/door/lobby", "keys": "/ui/keys", "models": "/ui/models", "health": "/ui/health"}
DOCS = {"door": "console-door.png", "keys": "console-keys.png", "models": "console-models.png", "health": "console-health.png"}


GREY = ("data:image/svg+xml,<svg xmlns='http://www.w3.org/2000/svg' width='48' height='48'>"
        "<rect width='48' height='48' fill='%23c8ced6'/></svg>")  # in place of a face, in docs/ pictures


def small_png(png: bytes, width: int = 1024) -> bytes:
    """A screenshot made small for docs/: scaled to `width`, 256-colour palette."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    image = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
    buffer = io.BytesIO()
    image.quantize(256).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


@pytest.mark.parametrize("size", [LAPTOP, PHONE], ids=["laptop", "phone"])
def test_every_page_shows_at_a_laptops_and_a_phones_size_without_scrolling_sideways(server, people, browser, size):
    folder = os.environ.get("FACEGRID_CONSOLE_SCREENSHOTS", "")
    at_size(browser, size)
    try:
        for name, path in PAGES.items():
            browser.get(server.http_url + path)
            width = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
            assert width[0] <= width[1] == size[0], (name, width)
            png = browser.get_screenshot_as_png()
            assert not_blank(png), name
            if folder and size == LAPTOP and name in DOCS:
                # No face of the evaluation photos goes into docs/: the live list stopped, its thumbnails greyed out.
                browser.execute_script("var grey = arguments[0]; for (let i = 1; i < 10000; i++) { clearInterval(i); }"
                                       "document.querySelectorAll('img.thumb').forEach(function (i) { i.src = grey; });", GREY)
                time.sleep(0.3)  # the grey squares drawn
                small = small_png(browser.get_screenshot_as_png())
                assert len(small) < 150_000, (name, len(small))
                (Path(folder) / DOCS[name]).write_bytes(small)
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
