"""Alignment geometry: our similarity transform against OpenCV's reference alignCrop."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facegrid.encoder.align import arcface_chip, similarity_transform
from facegrid.encoder.assets import opencv_zoo_model
from facegrid.encoder.detect import ARCFACE_TEMPLATE
from facegrid.encoder.models.sface import SFACE_FILE


def test_similarity_transform_recovers_a_known_transform():
    angle, scale, shift = np.radians(17), 1.7, np.array([12.0, -5.0])
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    source = ARCFACE_TEMPLATE.astype(np.float64)
    target = source @ rotation.T + shift
    matrix = similarity_transform(source, target)
    np.testing.assert_allclose(matrix[:, :2], rotation, atol=1e-9)
    np.testing.assert_allclose(matrix[:, 2], shift, atol=1e-9)


def test_similarity_transform_never_reflects():
    mirrored = ARCFACE_TEMPLATE * np.array([-1.0, 1.0])
    matrix = similarity_transform(ARCFACE_TEMPLATE, mirrored)
    assert np.linalg.det(matrix[:, :2]) > 0


@pytest.mark.parametrize("seed", range(5))
def test_arcface_chip_matches_opencv_align_crop(seed):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)
    image = cv2.GaussianBlur(image, (7, 7), 2)  # smooth so sub-pixel rounding differences stay small
    scale, angle = rng.uniform(0.8, 2.0), rng.uniform(-0.4, 0.4)
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    landmarks = (ARCFACE_TEMPLATE @ rotation.T + rng.uniform(80, 160, 2) + rng.normal(0, 2, (5, 2))).astype(np.float32)
    row = np.zeros((1, 15), np.float32)
    row[0, 4:14] = landmarks.reshape(-1)
    recognizer = cv2.FaceRecognizerSF.create(str(opencv_zoo_model(SFACE_FILE)), "")
    reference = recognizer.alignCrop(image, row)
    ours = arcface_chip(image, landmarks)
    assert ours.shape == reference.shape == (112, 112, 3)
    assert np.abs(ours.astype(int) - reference.astype(int)).mean() < 1.0
