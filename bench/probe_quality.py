"""Probe quality: how degraded gate probes score, and how fast a probe without a face is answered.

`python -m facegrid.bench.probe_quality [--data DIR] [--json]`. For every deepface probe (each
person's photos after the first two, which are enrolled as that person's template), shrunk until
its face is N px or blurred at a 150 px face: the genuine score against its own person, the best
impostor score against the 12 others, and the share of genuine probes at or above the 1:1
threshold (target FAR 1e-3, `fused`). Then the time to say "no face" on a 640x480 frame, with the
full cascade (YuNet, HOG, MMOD) and with the probes' chain (YuNet, HOG), in the same run.
These figures chose the defaults of server/domain/probe_rules.py.
"""

from __future__ import annotations

import argparse
import io
import json
import time

import cv2
import numpy as np
from PIL import Image

from facegrid.encoder.detect import probe_detector
from facegrid.encoder.image import decode_image
from facegrid.encoder.pipeline import FacePipeline
from facegrid.evaluation.datasets import set_dir
from facegrid.index.calibration import load_calibration
from facegrid.index.identify import subject_vector

SIZES = (40, 30, 24, 20, 16, 12)
BLURS = (0, 3, 4, 6, 8, 10)  # Gaussian sigma at a 150 px face


def _resized(image: np.ndarray, factor: float) -> np.ndarray:
    size = (max(1, int(image.shape[1] * factor)), max(1, int(image.shape[0] * factor)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _variants(image: np.ndarray, face: float):
    for side in SIZES:
        if side < face:
            yield f"face {side} px", _resized(image, side / face)
    work = _resized(image, 150 / face) if face > 150 else image
    for sigma in BLURS:
        yield f"blur sigma {sigma}", work if sigma == 0 else cv2.GaussianBlur(work, (0, 0), sigma)


def degraded_scores(data: str | None = None) -> dict:
    """Per variant: genuine mean, share accepted, best impostor mean, median sharpness."""
    pipeline = FacePipeline()
    threshold = load_calibration(pipeline.model.name).threshold(1e-3)
    people = sorted(d for d in set_dir("deepface", data).iterdir() if d.is_dir())
    templates, probes = {}, {}
    for person in people:
        photos = sorted(p for p in person.iterdir() if p.is_file())
        enrolled = [max(f, key=lambda f: f.quality.size).vector for f in (pipeline.faces(p.read_bytes()) for p in photos[:2]) if f]
        templates[person.name], probes[person.name] = subject_vector(np.stack(enrolled)), photos[2:]
    names = list(templates)
    matrix = np.stack([templates[n] for n in names])
    rows: dict[str, list] = {}
    for name, photos in probes.items():
        for photo in photos:
            image = decode_image(photo.read_bytes())
            found = pipeline.faces_in_image(image)
            if not found:
                continue
            for label, variant in _variants(image, max(f.quality.size for f in found)):
                faces = pipeline.faces_in_image(variant)
                if faces:
                    face = max(faces, key=lambda f: f.quality.size)
                    scores = matrix @ face.vector
                    own = names.index(name)
                    rows.setdefault(label, []).append((scores[own], np.delete(scores, own).max(), face.quality.sharpness))
    report = {}
    for label, values in rows.items():
        a = np.array(values)
        report[label] = {"probes": len(a), "genuine_mean": round(float(a[:, 0].mean()), 3),
                         "accepted": round(float((a[:, 0] >= threshold).mean()), 2),
                         "best_impostor_mean": round(float(a[:, 1].mean()), 3),
                         "sharpness_p50": round(float(np.median(a[:, 2])), 1)}
    return {"threshold": round(threshold, 4), "variants": report}


def no_face_latency(repeats: int = 5) -> dict:
    """ms to answer "no face" on a 640x480 frame of noise: the full cascade vs the probes' chain."""
    pipeline = FacePipeline()
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (480, 640, 3)).astype(np.uint8)).save(buffer, "JPEG")
    frame = buffer.getvalue()
    timings = {}
    for label, detector in (("cascade", pipeline.detector), ("probe_chain", probe_detector(pipeline.detector))):
        found = pipeline.find_faces(frame, detector)  # builds the stages
        started = time.perf_counter()
        for _ in range(repeats):
            pipeline.find_faces(frame, detector)
        timings[label] = {"ms": round((time.perf_counter() - started) / repeats * 1000, 1), "detectors": list(found.detectors)}
    timings["speedup"] = round(timings["cascade"]["ms"] / timings["probe_chain"]["ms"], 1)
    return timings


def main() -> None:
    """Command line of the probe-quality benchmark: prints the report, or one JSON object with --json."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", help="faces/ folder (default: ../shared/data/faces or FACEGRID_FACES_DIR)")
    parser.add_argument("--json", action="store_true", help="one JSON object on the last line")
    args = parser.parse_args()
    report = {"no_face": no_face_latency(), **degraded_scores(args.data)}
    if args.json:
        print(json.dumps(report))
        return
    print(f"no face on a 640x480 frame: cascade {report['no_face']['cascade']['ms']} ms, "
          f"probe chain {report['no_face']['probe_chain']['ms']} ms ({report['no_face']['speedup']}x)")
    print(f"threshold {report['threshold']}")
    for label, row in report["variants"].items():
        print(f"  {label:16s} {row}")


if __name__ == "__main__":
    main()
