"""Detection on real group photos against dlib's hand-labelled boxes, and on photos without faces."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest

from facegrid.encoder.detect import Detection, YuNetDetector, make_detector, nearest_to_centre
from facegrid.encoder.image import decode_image


def labelled_boxes(faces_dir):
    """(photo path, [(x, y, w, h), ...]) from dlib's testing and training XML files."""
    meta = faces_dir / "dlib" / "_meta"
    for name in ("training.xml", "testing.xml"):
        for image in ElementTree.parse(meta / name).getroot().iter("image"):
            boxes = [
                tuple(float(b.get(k)) for k in ("left", "top", "width", "height"))
                for b in image.iter("box")
                if b.get("ignore") != "1"
            ]
            yield faces_dir / "dlib" / "unlabeled" / image.get("file"), boxes


def overlap(a, b) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax2, bx2) - max(a[0], b[0]))
    ih = max(0.0, min(ay2, by2) - max(a[1], b[1]))
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


@pytest.mark.parametrize("detector_name, minimum", [("yunet", 0.9), ("cascade", 0.9)])
def test_recall_on_dlib_group_photos(faces_dir, detector_name, minimum):
    detector = make_detector(detector_name)
    found = total = false_alarms = 0
    for path, truth in labelled_boxes(faces_dir):
        detections = detector.detect(decode_image(path.read_bytes()))
        # dlib's boxes are tighter than YuNet's: a match is a good overlap or a truth box centred inside ours.
        for box in truth:
            cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
            if any(
                overlap(box, d.box) > 0.3 or (d.box[0] < cx < d.box[0] + d.box[2] and d.box[1] < cy < d.box[1] + d.box[3])
                for d in detections
            ):
                found += 1
        false_alarms += max(0, len(detections) - len(truth))
        total += len(truth)
    recall = found / total
    print(f"{detector_name}: recall {found}/{total} = {recall:.3f}, extra detections {false_alarms}")
    assert total >= 30
    assert recall >= minimum


def test_group_photo_gives_every_face(faces_dir):
    photo = faces_dir / "dlib" / "unlabeled" / "2008_004176.jpg"  # seven labelled faces
    detections = YuNetDetector().detect(decode_image(photo.read_bytes()))
    assert len(detections) >= 6
    for d in detections:
        assert d.landmarks.shape == (5, 2)
        x, y, w, h = d.box
        # Eyes inside the box, the subject's right eye on the image's left.
        assert x <= d.landmarks[0, 0] < d.landmarks[1, 0] <= x + w
        assert 0 < d.score <= 1


def test_photo_without_a_face_gives_no_detection():
    rng = np.random.default_rng(1)
    sky = np.zeros((480, 640, 3), np.uint8)
    sky[:] = (90, 150, 230)
    noisy = np.clip(sky + rng.normal(0, 6, sky.shape), 0, 255).astype(np.uint8)
    assert make_detector("cascade").detect(noisy) == []


def test_tiny_and_huge_images_are_handled():
    detector = YuNetDetector()
    assert detector.detect(np.zeros((1, 1, 3), np.uint8)) == []
    assert detector.detect(np.zeros((4000, 6000, 3), np.uint8)) == []


def test_nearest_to_centre_picks_the_middle_face():
    def at(x: float, y: float) -> Detection:
        return Detection(box=(x, y, 20, 20), landmarks=np.zeros((5, 2), np.float32), score=0.9, detector="test")

    corner, middle, edge = at(0, 0), at(90, 40), at(180, 0)
    assert nearest_to_centre([corner, edge, middle], (100, 200, 3)) is middle
    assert nearest_to_centre([], (100, 200, 3)) is None


def test_yunet_on_onnx_runtime_matches_opencv_face_detector(faces_dir):
    """Our decoding of YuNet's raw outputs gives what cv2.FaceDetectorYN gives, face for face."""
    ours, reference = YuNetDetector(), YuNetDetector(backend="opencv")
    photos = sorted((faces_dir / "dlib" / "unlabeled").glob("*.jpg")) + sorted((faces_dir / "deepface").glob("id0*/*"))[:12]
    faces = 0
    for photo in photos:
        image = decode_image(photo.read_bytes())
        found, expected = ours.detect(image), reference.detect(image)
        assert len(found) == len(expected), photo.name
        for a, b in zip(found, expected):
            np.testing.assert_allclose(a.box, b.box, atol=0.01)
            np.testing.assert_allclose(a.landmarks, b.landmarks, atol=0.01)
            assert a.score == pytest.approx(b.score, abs=1e-4)
        faces += len(found)
    assert faces >= 40
