"""Audio for an audio tower, in numpy alone: WAV bytes decoded safely, resampled, cut to a fixed length, log-mel.

Serving never needs torch or librosa: the log-mel spectrogram is computed here, and the training recipe
(encoder/train/bind.py) computes its inputs with this same code, so a served tower sees exactly the
features it was trained on.

- decode: 16-bit PCM WAV, mono or stereo (stereo is averaged; WAVE_FORMAT_EXTENSIBLE headers of PCM too),
  refused past a byte size or a duration read from the header before any sample is read.
- prepare: the first `seconds` of the clip (speech starts at the start), resampled to `sample_rate` by FFT
  (band-limited, no aliasing), zero-padded to exactly `seconds`, then Whisper's log-mel recipe: Hann window
  of `n_fft`, hop `hop`, power spectrum, `n_mels` triangular mel filters (HTK mel scale) from fmin to fmax,
  log10 with a floor, range clipped to 8 decades below the clip's peak, scaled by (x + 4) / 4.

The card's audio tower lists these settings: {"onnx": "audio/model.onnx", "sample_rate": 16000, "seconds": 3.0,
"n_fft": 400, "hop": 160, "n_mels": 64, "fmin": 20.0, "fmax": 8000.0}; ONNX input "audio" float32
(n, n_mels, frames), output (n, dim).
"""

from __future__ import annotations

import io
import wave
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import AudioTooLarge, BadModelFolder, UnreadableAudio

MAX_AUDIO_BYTES = 32 * 1024 * 1024  # ~6 minutes of 44.1 kHz stereo: far past any clip a tower takes
MAX_AUDIO_SECONDS = 120.0
_EXTENSIBLE = 0xFFFE
# The tail of KSDATAFORMAT_SUBTYPE_PCM, the sub-format GUID of an extensible header holding plain PCM.
_PCM_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


@dataclass(frozen=True)
class Audio:
    """A mono clip: float32 samples in [-1, 1] at `sample_rate`."""

    samples: np.ndarray  # (n,) float32
    sample_rate: int

    @property
    def seconds(self) -> float:
        """The clip's length in seconds."""
        return len(self.samples) / self.sample_rate


@dataclass(frozen=True)
class AudioLimits:
    """What an untrusted WAV file may be: refused past these before its samples are read."""

    max_bytes: int = MAX_AUDIO_BYTES
    max_seconds: float = MAX_AUDIO_SECONDS


def decode_wav(data: bytes, limits: AudioLimits = AudioLimits()) -> Audio:
    """A mono clip from 16-bit PCM WAV bytes; UnreadableAudio or AudioTooLarge when it cannot be used."""
    if not data:
        raise UnreadableAudio("audio is empty")
    if len(data) > limits.max_bytes:
        raise AudioTooLarge(f"audio of {len(data)} bytes is over the {limits.max_bytes}-byte limit")
    try:
        with wave.open(io.BytesIO(_plain_pcm_header(data)), "rb") as reader:
            channels, width, rate, frames = reader.getnchannels(), reader.getsampwidth(), reader.getframerate(), reader.getnframes()
            if width != 2:
                raise UnreadableAudio(f"WAV of {8 * width}-bit samples; 16-bit PCM is read")
            if channels not in (1, 2):
                raise UnreadableAudio(f"WAV of {channels} channels; mono or stereo is read")
            if not 1000 <= rate <= 384000:
                raise UnreadableAudio(f"WAV sample rate {rate} Hz out of 1000..384000")
            if frames / rate > limits.max_seconds:
                raise AudioTooLarge(f"audio of {frames / rate:.1f} s is over the {limits.max_seconds:g} s limit")
            raw = reader.readframes(frames)
    except (wave.Error, EOFError) as error:  # no RIFF header, not PCM (format 1), a chunk cut short
        raise UnreadableAudio(f"not a readable WAV file ({error or 'truncated'})") from None
    usable = len(raw) // (2 * channels) * 2 * channels  # a truncated data chunk: its whole frames only
    if usable == 0:
        raise UnreadableAudio("WAV file holds no samples")
    samples = np.frombuffer(raw[:usable], dtype="<i2").astype(np.float32) / 32768.0
    if channels == 2:
        samples = samples.reshape(-1, 2).mean(axis=1)
    return Audio(np.ascontiguousarray(samples, dtype=np.float32), rate)


def _plain_pcm_header(data: bytes) -> bytes:
    """The bytes with a WAVE_FORMAT_EXTENSIBLE fmt chunk of PCM relabelled plain PCM (Python 3.11's wave reads only that)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return data
    offset = 12
    for _ in range(16):  # fmt comes first in practice; a few chunks before it are tolerated
        if offset + 8 > len(data):
            break
        size = int.from_bytes(data[offset + 4:offset + 8], "little")
        if data[offset:offset + 4] == b"fmt ":
            body = data[offset + 8:offset + 8 + size]
            if size >= 40 and int.from_bytes(body[:2], "little") == _EXTENSIBLE and body[24:26] == b"\x01\x00" \
                    and body[26:40] == _PCM_GUID_TAIL:
                return data[:offset + 8] + b"\x01\x00" + data[offset + 10:]
            break
        offset += 8 + size + (size & 1)
    return data


def encode_wav(audio: Audio) -> bytes:
    """16-bit PCM mono WAV bytes of a clip (clipped to [-1, 1])."""
    pcm = np.clip(np.round(audio.samples * 32767.0), -32768, 32767).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(audio.sample_rate)
        writer.writeframes(pcm.tobytes())
    return out.getvalue()


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Band-limited resampling by FFT (as scipy.signal.resample): rate -> target, float32."""
    if rate == target or len(samples) == 0:
        return np.asarray(samples, np.float32)
    n_out = max(1, int(round(len(samples) * target / rate)))
    spectrum = np.fft.rfft(samples.astype(np.float64))
    kept = np.zeros(n_out // 2 + 1, dtype=np.complex128)
    bins = min(len(spectrum), len(kept))
    kept[:bins] = spectrum[:bins]
    return (np.fft.irfft(kept, n_out) * (n_out / len(samples))).astype(np.float32)


def mel_filters(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangular filters, evenly spaced on the HTK mel scale."""
    def mel(f):
        return 2595.0 * np.log10(1.0 + np.asarray(f, np.float64) / 700.0)

    def hertz(m):
        return 700.0 * (10.0 ** (np.asarray(m, np.float64) / 2595.0) - 1.0)

    edges = hertz(np.linspace(mel(fmin), mel(fmax), n_mels + 2))
    freqs = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs[None, :] - lower) / (centre - lower)
    falling = (upper - freqs[None, :]) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)


@dataclass(frozen=True)
class AudioPreprocess:
    """How a clip becomes an audio tower's (n_mels, frames) float32 input."""

    sample_rate: int = 16000
    seconds: float = 3.0
    n_fft: int = 400
    hop: int = 160
    n_mels: int = 64
    fmin: float = 20.0
    fmax: float = 8000.0

    @classmethod
    def from_settings(cls, settings: dict, source: str) -> "AudioPreprocess":
        """From a card's audio tower fields (defaults for those left out); BadModelFolder naming `source`."""
        known = set(cls.__dataclass_fields__)
        try:
            made = cls(**{k: type(getattr(cls, k))(v) for k, v in settings.items() if k in known})
        except (TypeError, ValueError) as error:
            raise BadModelFolder(f"{source}: audio settings {settings!r} unusable ({error})") from None
        problems = []
        if not 8000 <= made.sample_rate <= 96000:
            problems.append(f"sample_rate {made.sample_rate} out of 8000..96000")
        if not 0.1 <= made.seconds <= 60:
            problems.append(f"seconds {made.seconds} out of 0.1..60")
        if not (16 <= made.n_fft <= 8192 and 1 <= made.hop <= made.n_fft):
            problems.append(f"n_fft {made.n_fft} / hop {made.hop}: need 16 <= n_fft <= 8192, 1 <= hop <= n_fft")
        if not 1 <= made.n_mels <= 512 or not 0 <= made.fmin < made.fmax <= made.sample_rate / 2:
            problems.append(f"n_mels {made.n_mels}, fmin {made.fmin}, fmax {made.fmax}: need 1..512 mels, 0 <= fmin < fmax <= sample_rate / 2")
        if problems:
            raise BadModelFolder(f"{source}: " + "; ".join(problems))
        return made

    def as_settings(self) -> dict:
        """The card's fields."""
        return asdict(self)

    @property
    def length(self) -> int:
        """Samples in a prepared clip."""
        return int(round(self.seconds * self.sample_rate))

    @property
    def frames(self) -> int:
        """Spectrogram frames of a prepared clip."""
        return 1 + (self.length - self.n_fft) // self.hop

    def waveform(self, audio: Audio) -> np.ndarray:
        """The clip at `sample_rate`, exactly `seconds` long: its start, zero-padded."""
        head = audio.samples[: int(np.ceil(self.seconds * audio.sample_rate))]  # crop first: resampling costs by length
        samples = resample(head, audio.sample_rate, self.sample_rate)[: self.length]
        return np.pad(samples, (0, self.length - len(samples))).astype(np.float32)

    def __call__(self, audio: Audio) -> np.ndarray:
        """(n_mels, frames) float32 log-mel features of a clip."""
        samples = self.waveform(audio)
        window = np.hanning(self.n_fft + 1)[:-1]  # periodic Hann, as torch.hann_window
        starts = np.arange(self.frames) * self.hop
        frames = samples[starts[:, None] + np.arange(self.n_fft)[None, :]] * window
        power = np.abs(np.fft.rfft(frames, axis=1)) ** 2  # (frames, bins)
        mel = _filters(self.sample_rate, self.n_fft, self.n_mels, self.fmin, self.fmax) @ power.T
        log = np.log10(np.maximum(mel, 1e-10))
        log = np.maximum(log, log.max() - 8.0)  # a silent clip is flat, not -10 everywhere with one spike
        return ((log + 4.0) / 4.0).astype(np.float32)


_FILTERS: dict[tuple, np.ndarray] = {}


def _filters(*key) -> np.ndarray:
    """The filter bank of these settings, computed once."""
    if key not in _FILTERS:
        _FILTERS[key] = mel_filters(*key)
    return _FILTERS[key]
