"""The service core checks requests itself, before any use case runs: a transport only translates.

Each core is built here with no use cases behind it (None): a request the core refuses never reaches them, and
the refusal is the same typed error, gRPC code and HTTP status whichever transport sent it. The calls that pass
these checks are tested over gRPC with real models and Redis (test_library.py, test_gate_service.py, ...).
"""

from __future__ import annotations

import numpy as np
import pytest

from facegrid.server.domain.admin_core import AdminCore, audit_token, entry_after
from facegrid.server.domain.error_kinds import ErrorKind, kind_of
from facegrid.server.domain.errors import BadRequest, NoImageModel
from facegrid.server.domain.gate_core import MAX_PHOTOS_PER_ENROLL, GateCore
from facegrid.server.domain.library_core import MAX_HASHES, MAX_K, MAX_PHOTO_PAGE, FaceSearch, LibraryCore, PhotoQuery
from facegrid.server.domain.page_tokens import decode_cursor, encode, encode_cursor

library = LibraryCore(None, None, None, None)
gate = GateCore(None, None, None)
admin = AdminCore(None, None, None, None)


@pytest.mark.parametrize("call, words", [
    (lambda: library.search(FaceSearch("c", 0, vector=np.zeros(4, np.float32))), f"k must be between 1 and {MAX_K}, got 0"),
    (lambda: library.search(FaceSearch("c", 5, photo=b"")), "photo is empty"),
    (lambda: library.search(FaceSearch("c", 5)), "give a photo or a vector"),
    (lambda: library.known("c", ["0" * 64] * (MAX_HASHES + 1)), f"at most {MAX_HASHES} hashes"),
    (lambda: library.cluster("c", link_far=1.5), "link_far must be between 0 and 1"),
    (lambda: library.cluster("c", min_size=-1), "min_size must be positive"),
    (lambda: library.merge("c", 3, 3), "two different groups"),
    (lambda: library.split("c", "x1"), "face_id must be a number"),
    (lambda: library.split("c", "\u00b2"), "face_id must be a number"),  # a digit to isdigit(), not to int()
    (lambda: library.list_photos("c", page_size=MAX_PHOTO_PAGE + 1), f"page_size must be between 0 and {MAX_PHOTO_PAGE}"),
    (lambda: library.list_photos("c", page_token="AjE="), "page_token is not one this server gave out"),
    (lambda: library.list_photos("c", page_token=encode("ann")), "page_token is not one this server gave out"),
    (lambda: library.add_vectors("c", [1, 2], [[0.0, 1.0]]), "2 ids for 1 vectors"),
    (lambda: library.add_vectors("c", [1, 2], [[0.0, 1.0], [1.0]]), "vectors of different lengths"),
    (lambda: library.kmeans("c", k=-2), "k must be positive (0 to choose)"),
    (lambda: library.kmeans("c", iterations=5000), "iterations between 0 and 1000"),
    (lambda: library.similar_photos("c", threshold=2.0), "threshold must be between -1 and 1"),
    (lambda: library.set_image_model("c", ""), "name the image model"),
    (lambda: gate.enroll("ann", []), "no photos"),
    (lambda: gate.enroll("ann", [b"x"] * (MAX_PHOTOS_PER_ENROLL + 1)), f"at most {MAX_PHOTOS_PER_ENROLL} photos"),
    (lambda: gate.verify("ann", b""), "photo is empty"),
    (lambda: gate.identify(b"x", candidates=101), "candidates must be between 1 and 100"),
    (lambda: gate.list_subjects(page_size=-1), "page_size must be between 1 and 1000"),
    (lambda: gate.list_subjects(page_token="not-a-token"), "page_token is not one this server gave out"),
    (lambda: gate.remove_templates("ann", []), "name at least one template to remove"),
    (lambda: admin.read_audit(limit=1001), "limit must be between 1 and 1000"),
    (lambda: admin.read_audit(since=float("nan")), "since must be a Unix time"),
    (lambda: admin.read_audit(page_token="@@"), "page_token is not one this server gave out"),
])
def test_a_bad_request_is_refused_before_any_use_case_runs(call, words):
    with pytest.raises(BadRequest) as refused:
        call()
    assert words in str(refused.value)
    assert kind_of(refused.value) is ErrorKind.INVALID_ARGUMENT and kind_of(refused.value).http_status == 400


def test_whole_photo_calls_on_a_server_without_image_models_are_a_failed_precondition():
    with pytest.raises(NoImageModel) as refused:
        library.search_photos(PhotoQuery("c", 5, text="a beach"))
    assert kind_of(refused.value) is ErrorKind.FAILED_PRECONDITION


def test_audit_page_tokens_round_trip():
    entry_id = "1700000000000-3"
    assert entry_after(audit_token(entry_id)) == entry_id and audit_token("") == ""


def test_photo_listing_tokens_round_trip_and_refuse_others():
    assert decode_cursor("") == 0 and decode_cursor(encode_cursor(2**64 - 1)) == 2**64 - 1
    assert encode_cursor(1) == "AjE"
    for token in ("AjE=", "AjE!", "Ag", encode("ann")):  # padded, out of the alphabet, no digits, a ListSubjects token
        with pytest.raises(BadRequest):
            decode_cursor(token)
