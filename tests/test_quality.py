"""Face quality measures: pose from landmarks, sharpness, size."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facegrid.encoder.detect import ARCFACE_TEMPLATE, Detection, YuNetDetector
from facegrid.encoder.image import decode_image
from facegrid.encoder.quality import assess, head_pose


def rotated(points: np.ndarray, degrees: float) -> np.ndarray:
    angle = np.radians(degrees)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return (points - points.mean(axis=0)) @ rotation.T + 200


def test_frontal_template_is_frontal():
    yaw, pitch, roll = head_pose(ARCFACE_TEMPLATE)
    assert abs(yaw) < 2 and abs(pitch) < 2 and abs(roll) < 1


@pytest.mark.parametrize("degrees", [-30, -10, 15, 40])
def test_roll_follows_the_eye_line_and_leaves_yaw_alone(degrees):
    yaw, pitch, roll = head_pose(rotated(ARCFACE_TEMPLATE, degrees))
    assert roll == pytest.approx(degrees, abs=0.5)
    assert abs(yaw) < 2 and abs(pitch) < 2


def test_nose_towards_one_eye_reads_as_yaw():
    turned = ARCFACE_TEMPLATE.copy()
    turned[2, 0] += 12  # nose tip moved towards the image-right eye
    yaw, _, _ = head_pose(turned)
    assert yaw > 25
    turned[2, 0] -= 24
    assert head_pose(turned)[0] < -25


def test_blur_lowers_sharpness_on_a_real_face(faces_dir):
    image = decode_image(next((faces_dir / "face_recognition" / "biden").iterdir()).read_bytes())
    detection: Detection = YuNetDetector().detect(image)[0]
    sharp = assess(image, detection)
    blurred = assess(cv2.GaussianBlur(image, (0, 0), 4), detection)
    assert blurred.sharpness < sharp.sharpness / 3
    assert sharp.size == pytest.approx(min(detection.box[2:]))
    assert sharp.interocular > 10 and sharp.detector_score == detection.score
