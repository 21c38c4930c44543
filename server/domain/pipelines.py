"""Face pipelines by model name: the server's default one, others built on first use and kept."""

from __future__ import annotations

import threading

from facegrid.encoder.detect import Detector, probe_detector
from facegrid.encoder.image import DecodeLimits
from facegrid.encoder.pipeline import FacePipeline
from facegrid.encoder.runtime import EncoderSettings


class Pipelines:
    """One FacePipeline per model, sharing the detector choice, decode limits and runtime."""

    def __init__(self, default: FacePipeline, detector: str, limits: DecodeLimits, settings: EncoderSettings) -> None:
        self.default = default
        self.detector = detector
        self.limits = limits
        self.settings = settings
        self._built = {default.model.name: default}
        self._probe_detectors: dict[str, Detector] = {}
        self._lock = threading.Lock()

    def get(self, model: str = "") -> FacePipeline:
        """The pipeline of a model (the default one for "")."""
        name = model or self.default.model.name
        with self._lock:
            if name not in self._built:
                self._built[name] = FacePipeline(name, self.detector, self.limits, settings=self.settings)
            return self._built[name]

    def probe_detector(self, pipeline: FacePipeline) -> Detector:
        """The detector of gate probes for a pipeline (as the gate's own: the cascade without MMOD), made once."""
        with self._lock:
            if pipeline.model.name not in self._probe_detectors:
                self._probe_detectors[pipeline.model.name] = probe_detector(pipeline.detector)
            return self._probe_detectors[pipeline.model.name]

    def close(self) -> None:
        """Stop every model's batcher (at shutdown, after the last call)."""
        with self._lock:
            built = list(self._built.values())
        for pipeline in built:
            pipeline.model.close()
