"""Audio for audio towers, numpy only: safe WAV decoding, resampling, fixed length, log-mel features."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest

from facegrid.encoder.errors import AudioTooLarge, BadModelFolder, UnreadableAudio
from facegrid.encoder.towers.audio import Audio, AudioLimits, AudioPreprocess, decode_wav, encode_wav, mel_filters, resample


def tone(freq: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def wav(samples: np.ndarray, rate: int, channels: int = 1, width: int = 2) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(width)
        writer.setframerate(rate)
        if width == 2:
            writer.writeframes(np.round(samples * 32767).astype("<i2").tobytes())
        else:
            writer.writeframes(bytes(len(samples) * width))
    return out.getvalue()


def test_mono_and_stereo_16_bit_wav_decode_to_one_channel():
    left, right = tone(440, 0.5, 22050), tone(880, 0.5, 22050)
    mono = decode_wav(wav(left, 22050))
    assert mono.sample_rate == 22050 and mono.samples.dtype == np.float32 and len(mono.samples) == len(left)
    assert np.abs(mono.samples - left).max() < 1e-4
    stereo = decode_wav(wav(np.stack([left, right], axis=1).reshape(-1), 22050, channels=2))
    assert len(stereo.samples) == len(left) and np.abs(stereo.samples - (left + right) / 2).max() < 1e-4
    assert np.abs(decode_wav(encode_wav(mono)).samples - mono.samples).max() < 1e-4


def test_an_extensible_header_of_16_bit_pcm_is_read():
    """WAVE_FORMAT_EXTENSIBLE (what some tools write for stereo): the same samples as the plain header."""
    samples = np.stack([tone(440, 0.2, 48000), tone(660, 0.2, 48000)], axis=1).reshape(-1)
    pcm = np.round(samples * 32767).astype("<i2").tobytes()
    guid = b"\x01\x00\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    fmt = (0xFFFE).to_bytes(2, "little") + (2).to_bytes(2, "little") + (48000).to_bytes(4, "little") \
        + (48000 * 4).to_bytes(4, "little") + (4).to_bytes(2, "little") + (16).to_bytes(2, "little") \
        + (22).to_bytes(2, "little") + (16).to_bytes(2, "little") + (3).to_bytes(4, "little") + guid
    body = b"WAVE" + b"fmt " + len(fmt).to_bytes(4, "little") + fmt + b"data" + len(pcm).to_bytes(4, "little") + pcm
    extensible = decode_wav(b"RIFF" + len(body).to_bytes(4, "little") + body)
    plain = decode_wav(wav(samples, 48000, channels=2))
    assert extensible.sample_rate == 48000 and np.array_equal(extensible.samples, plain.samples)
    with pytest.raises(UnreadableAudio, match="WAV"):  # an extensible header of float samples is still refused
        decode_wav(b"RIFF" + len(body).to_bytes(4, "little") + body.replace(guid, b"\x03" + guid[1:]))


def test_bad_wav_files_are_typed_errors():
    good = wav(tone(440, 1.0, 16000), 16000)
    for data, needle in [(b"", "empty"), (b"RIFF junk that is not a wave file", "WAV"), (b"\x89PNG\r\n" + bytes(100), "WAV"),
                         (wav(tone(440, 0.1, 16000), 16000, width=1), "8-bit"), (wav(tone(440, 0.1, 16000), 16000, width=3), "24-bit"),
                         (good[:30], "WAV"), (good[:44], "no samples")]:
        with pytest.raises(UnreadableAudio, match=needle):
            decode_wav(data)
    cut = decode_wav(good[:44 + 1001])  # a data chunk cut mid-sample: its whole samples
    assert len(cut.samples) == 500
    with pytest.raises(AudioTooLarge, match="byte"):
        decode_wav(good, AudioLimits(max_bytes=1000))
    with pytest.raises(AudioTooLarge, match="0.5 s"):
        decode_wav(good, AudioLimits(max_seconds=0.5))


def test_resampling_keeps_the_pitch_and_the_duration():
    clip = tone(1000, 1.0, 22050)
    out = resample(clip, 22050, 16000)
    assert len(out) == 16000
    spectrum = np.abs(np.fft.rfft(out))
    assert abs(np.argmax(spectrum) * 16000 / len(out) - 1000) <= 1
    # A tone above the new Nyquist frequency is removed, not folded back (aliased) into the band.
    assert np.abs(resample(tone(9000, 1.0, 22050), 22050, 16000)).max() < 0.01


def test_log_mel_has_the_cards_shape_and_puts_a_tone_in_its_band():
    prep = AudioPreprocess()
    features = prep(Audio(tone(1000, 2.0, 22050), 22050))
    assert features.shape == (prep.n_mels, prep.frames) == (64, 298) and features.dtype == np.float32
    filters = mel_filters(prep.sample_rate, prep.n_fft, prep.n_mels, prep.fmin, prep.fmax)
    band = int(np.argmax(filters[:, round(1000 * prep.n_fft / prep.sample_rate)]))
    spoken = features[:, :150].mean(axis=1)  # the first 2 s hold the tone, the rest is padding
    assert abs(int(np.argmax(spoken)) - band) <= 1
    silent = prep(Audio(np.zeros(100, np.float32), 16000))
    assert np.isfinite(silent).all() and silent.std() == 0


def test_clips_are_cut_to_their_start_and_padded_to_the_fixed_length():
    prep = AudioPreprocess(seconds=1.0)
    long = tone(500, 3.0, 16000)
    assert np.array_equal(prep(Audio(long, 16000)), prep(Audio(long[:16000], 16000)))
    short = prep.waveform(Audio(tone(500, 0.25, 8000), 8000))
    assert len(short) == 16000 and np.all(short[4100:] == 0) and np.abs(short[:3900]).max() > 0.4


def test_card_settings_are_checked():
    assert AudioPreprocess.from_settings({"seconds": 2, "n_mels": 40}, "card").as_settings()["n_mels"] == 40
    for bad in ({"sample_rate": 100}, {"seconds": 0}, {"hop": 9999}, {"fmax": 20000}, {"n_mels": "many"}):
        with pytest.raises(BadModelFolder, match="card"):
            AudioPreprocess.from_settings(bad, "card")
