"""Library data classes to protobuf messages (one place, shared by the services)."""

from __future__ import annotations

from facegrid.encoder.pipeline import Face
from facegrid.encoder.quality import FaceQuality
from facegrid.index.identify import Decision
from facegrid.v1 import encoder_pb2, gate_pb2


def box(face: Face) -> encoder_pb2.Box:
    x, y, w, h = face.box
    return encoder_pb2.Box(x=x, y=y, width=w, height=h)


def quality(q: FaceQuality | dict) -> encoder_pb2.Quality:
    values = q.as_dict() if isinstance(q, FaceQuality) else q
    return encoder_pb2.Quality(**{k: float(v) for k, v in values.items()})


def face(f: Face) -> encoder_pb2.Face:
    return encoder_pb2.Face(
        box=box(f),
        landmarks=[encoder_pb2.Point(x=float(x), y=float(y)) for x, y in f.landmarks],
        quality=quality(f.quality),
        vector=f.vector.tolist(),
        model=f.model,
        detector=f.detector,
    )


def decision(d: Decision | None) -> gate_pb2.Decision | None:
    if d is None:
        return None
    return gate_pb2.Decision(score=d.score, threshold=d.threshold, estimated_far=d.estimated_far, target_far=d.target_far)
