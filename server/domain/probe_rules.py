"""What a gate probe (the photo given to Verify or Identify) must show before it is compared with anyone.

The defaults refuse only faces that are clearly unusable, measured with the `fused` model on the
deepface press photos (37 probes against 13 people, each probe degraded on purpose; the method
and figures are in docs/benchmarks.md, "Probe quality"):

- size: at 40 px the genuine scores were those of the full-size faces (mean 0.911 vs 0.912), and
  the genuine-impostor gap only shrank below ~20 px (0.10 at 20 px, 0.04 at 12 px, where 30% of
  genuine probes failed). 40 px leaves twice that margin for what a real camera adds (noise,
  compression, motion blur) to a face that small.
- sharpness (variance of the Laplacian on the 112x112 chip; enrollment asks for 20, sharp photos
  measure ~900-1700): below ~6 the faces were blurred so much that about half of the genuine probes
  failed (Gaussian sigma 8 at 150 px: sharpness 5.8, 54% accepted; sigma 10: 4.6, 14%), so the
  answer would be a NO MATCH for the wrong reason; "blurred" tells the person what to do.
- yaw: the five-landmark alignment assumes both eyes are seen; beyond ~60 degrees the far eye is
  hidden and its landmark a guess. Enrollment asks for 40; a gate camera sees people walking by.
  Pitch is not checked: its landmark estimate is rougher, and a false refusal costs a re-try.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from facegrid.encoder.quality import FaceQuality

from .refusals import PhotoIssue, Refusal


class ProbeCheck(str, Enum):
    """What the gate does with a probe below the rules."""

    OFF = "off"  # nothing: the probe is compared whatever its quality
    REPORT = "report"  # compared, and the answer says what is wrong with it
    REFUSE = "refuse"  # refused with FAILED_PRECONDITION and the reason; nothing is compared


@dataclass(frozen=True)
class ProbeRules:
    """The rule a probe face is held to (Settings: probe_quality, probe_min_face_px, probe_min_sharpness, probe_max_yaw)."""

    check: ProbeCheck = ProbeCheck.REFUSE
    min_face_size: float = 40.0  # pixels, shorter side of the face box
    min_sharpness: float = 6.0  # variance of the Laplacian on the 112x112 aligned chip
    max_yaw: float = 60.0  # degrees

    def issue(self, quality: FaceQuality) -> Refusal | None:
        """What is wrong with a probe face, or None when it is fit to compare (always None when the check is off)."""
        if self.check is ProbeCheck.OFF:
            return None
        if quality.size < self.min_face_size:
            return Refusal(PhotoIssue.FACE_TOO_SMALL,
                           f"face too small: {quality.size:.0f} px, at least {self.min_face_size:.0f} px needed; come closer")
        if quality.sharpness < self.min_sharpness:
            return Refusal(PhotoIssue.BLURRED,
                           f"face blurred: sharpness {quality.sharpness:.1f}, at least {self.min_sharpness:.0f} needed; hold still")
        if abs(quality.yaw) > self.max_yaw:
            return Refusal(PhotoIssue.TURNED_AWAY,
                           f"face turned away: yaw {quality.yaw:+.0f} degrees, at most {self.max_yaw:.0f}; look at the camera")
        return None

    @property
    def refuses(self) -> bool:
        """Whether a probe that fails the rule is refused rather than only reported."""
        return self.check is ProbeCheck.REFUSE
