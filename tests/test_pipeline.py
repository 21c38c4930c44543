"""Photo bytes to faces: real photos, bad input, and many photos over worker processes."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from facegrid.encoder.errors import ImageTooLarge, UnreadableImage
from facegrid.encoder.image import DecodeLimits
from facegrid.encoder.pipeline import FacePipeline, faces_many
from helpers import vector_tolerance


def encode(array: np.ndarray, fmt: str = "JPEG", **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, fmt, **options)
    return buffer.getvalue()


def test_one_face_has_box_landmarks_quality_and_unit_vector(fused_pipeline, faces_dir):
    photo = faces_dir / "face_recognition" / "biden"
    data = sorted(photo.iterdir())[0].read_bytes()
    faces = fused_pipeline.faces(data)
    assert len(faces) == 1
    face = faces[0]
    assert face.model == "fused" and face.vector.shape == (256,) and face.vector.dtype == np.float32
    assert np.linalg.norm(face.vector) == pytest.approx(1.0, abs=1e-5)
    assert face.quality.size > 50 and face.quality.sharpness > 0
    assert abs(face.quality.yaw) < 45 and abs(face.quality.roll) < 30
    json.dumps(face.as_dict())  # serialisable as is


def test_group_photo_gives_all_faces(fused_pipeline, faces_dir):
    data = (faces_dir / "dlib" / "unlabeled" / "2008_002470.jpg").read_bytes()  # six labelled faces
    faces = fused_pipeline.faces(data)
    assert len(faces) >= 6
    assert len({tuple(np.round(f.vector[:8], 4)) for f in faces}) == len(faces)


def test_photo_without_a_face_is_an_empty_list_not_an_error(fused_pipeline):
    gradient = np.tile(np.linspace(0, 255, 320, dtype=np.uint8)[None, :, None], (240, 1, 3))
    assert fused_pipeline.faces(encode(gradient)) == []


def test_tiny_image_is_an_empty_list(fused_pipeline):
    assert fused_pipeline.faces(encode(np.full((1, 1, 3), 128, np.uint8), "PNG")) == []


@pytest.mark.parametrize(
    "data, error",
    [
        (b"", UnreadableImage),
        (bytes(range(256)) * 40, UnreadableImage),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 50, UnreadableImage),
    ],
    ids=["empty", "random", "truncated-jpeg"],
)
def test_bad_bytes_raise_typed_errors(fused_pipeline, data, error):
    with pytest.raises(error):
        fused_pipeline.faces(data)


def test_limits_are_enforced_before_decoding():
    pipeline = FacePipeline("sface", "yunet", limits=DecodeLimits(max_bytes=10_000, max_pixels=1_000_000))
    big = np.random.default_rng(0).integers(0, 255, (400, 400, 3), dtype=np.uint8)
    with pytest.raises(ImageTooLarge):
        pipeline.faces(encode(big, "PNG"))


def test_webp_named_jpg_and_cmyk_and_16_bit_photos_decode_and_give_faces(fused_pipeline, faces_dir):
    webp = next(p for p in (faces_dir / "deepface").rglob("*.jpg") if p.read_bytes()[8:12] == b"WEBP")
    assert len(fused_pipeline.faces(webp.read_bytes())) >= 1
    rgb = np.asarray(Image.open(io.BytesIO(webp.read_bytes())).convert("RGB"))
    cmyk = io.BytesIO()
    Image.fromarray(rgb).convert("CMYK").save(cmyk, "JPEG")
    assert len(fused_pipeline.faces(cmyk.getvalue())) >= 1
    sixteen = io.BytesIO()
    Image.fromarray(rgb[..., 1].astype(np.uint16) * 257).save(sixteen, "PNG")
    assert len(fused_pipeline.faces(sixteen.getvalue())) >= 1


def test_faces_many_keeps_order_and_reports_bad_files(faces_dir, tmp_path):
    good = sorted((faces_dir / "dlib" / "John_Simm").glob("*.jpg"))[:3]
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a photo")
    items = [(p.name, str(p)) for p in good[:2]] + [("broken", str(broken)), ("missing", str(tmp_path / "nope.jpg"))]
    items.append((good[2].name, good[2].read_bytes()))
    results = list(faces_many(items, model="sface", detector="yunet", workers=2, chunk=2, subject="centre", guess_when_missing=True))
    assert [r.key for r in results] == [key for key, _ in items]
    by_key = {r.key: r for r in results}
    assert by_key["broken"].error_type == "UnreadableImage"
    assert by_key["missing"].error_type == "FileNotFoundError"
    for path in good:
        assert by_key[path.name].error is None and len(by_key[path.name].faces) == 1
    a, b = (by_key[p.name].faces[0].vector for p in good[:2])
    assert a @ b > 0.4  # the same person


def test_faces_in_photos_gives_each_photo_its_faces_or_its_own_error(fused_pipeline, faces_dir):
    portrait = next((faces_dir / "dlib" / "John_Savage").glob("*.jpg")).read_bytes()
    group = (faces_dir / "dlib" / "unlabeled" / "2008_004176.jpg").read_bytes()
    results = fused_pipeline.faces_in_photos([portrait, b"not a photo", group, portrait[: len(portrait) // 4]])
    assert len(results[0]) == 1 and isinstance(results[1], UnreadableImage)
    assert len(results[2]) >= 7 and isinstance(results[3], UnreadableImage)
    # Shared batches give the same vectors as one photo at a time.
    alone = fused_pipeline.faces(group)
    np.testing.assert_allclose(np.stack([f.vector for f in results[2]]), np.stack([f.vector for f in alone]),
                               atol=vector_tolerance(fused_pipeline.model))
