"""A small real paired data set built here: emoji as images, their Unicode names as text, the names spoken as audio.

Why this one: everything comes from Debian packages (the Symbola font, `fonts-symbola`; the `espeak-ng`
speech synthesiser) and Python's own Unicode database, so a test or an operator builds the same set in
seconds with no download and no photo of anyone; the three modalities are naturally paired (a picture,
its name, the name spoken), which is the situation ImageBind's binding is for (image + audio pairs,
text reached through the image); and the names share words ("face", "cat", "with"), so retrieval is
not trivially one-word matching.

Per concept (one emoji): `images` renderings (glyph size, offset, ink and paper colour jittered) and
`voices` spoken clips (each from its own espeak-ng voice, speed and pitch). The first `voices - held_out`
voices are for training; the last `held_out` voices (voices the training never hears) for evaluation.
Everything is deterministic (seeded by code point and variant; espeak-ng's output is deterministic) and
cached under <data_dir>/cache/bind/, built in a hidden folder and renamed when complete.

Written (paths in the CSVs relative to the CSV's folder; the header row names the modality of each column,
"text" cells are the text itself):
    image_text.csv       image,text    every rendering with its name        (the pivot's training pairs)
    image_audio.csv      image,audio   renderings x training voices         (binding: no text anywhere)
    text_audio.csv       text,audio    names x training voices              (the direct baseline's pairs)
    test_audio.csv       text,audio    names x held-out voices              (evaluation only)
    concepts.csv         codepoint,name
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import tempfile
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..assets import cache_dir, default_data_dir
from ..errors import EncoderError

FORMAT = 1  # bump when the renderings or the syntheses change, so old caches are not reused
IMAGE_SIZE = 64
# Where Debian's fonts-symbola puts the font (outline glyphs: any size renders sharply, unlike bitmap colour emoji).
FONT_PATHS = ("/usr/share/fonts/truetype/ancient-scripts/Symbola_hint.ttf", "/usr/share/fonts/truetype/symbola/Symbola.ttf")
# Emoji and pictograph blocks, searched in this order.
BLOCKS = ((0x1F300, 0x1F5FF), (0x1F600, 0x1F64F), (0x1F680, 0x1F6FF), (0x1F900, 0x1F9FF), (0x2600, 0x26FF), (0x2700, 0x27BF))
# (voice, words per minute, pitch 0-99): the training voices first, then the held-out ones.
VOICES = (("en-us", 165, 50), ("en-gb", 150, 40), ("en-gb-x-rp", 185, 60), ("en-029", 170, 45),
          ("en-us+f3", 160, 55), ("en-gb-scotland", 175, 35), ("en-us+klatt", 155, 65), ("en-gb", 195, 70))


class DatasetUnavailable(EncoderError):
    """A tool or font the data set needs is not installed (espeak-ng, fonts-symbola)."""


@dataclass(frozen=True)
class EmojiPairs:
    """A built data set: its folder, concepts and pair files."""

    folder: Path
    concepts: list[tuple[int, str]]  # (code point, lower-case Unicode name)
    images: int  # renderings per concept
    voices: int
    held_out: int

    def csv(self, kind: str) -> Path:
        """One of image_text, image_audio, text_audio, test_audio."""
        return self.folder / f"{kind}.csv"


def font_path() -> Path:
    """The Symbola font, or DatasetUnavailable saying which package to install."""
    for path in FONT_PATHS:
        if Path(path).is_file():
            return Path(path)
    raise DatasetUnavailable("the Symbola font is not installed (Debian: apt-get install fonts-symbola)")


def espeak_path() -> str:
    """The espeak-ng program, or DatasetUnavailable."""
    found = shutil.which("espeak-ng")
    if found is None:
        raise DatasetUnavailable("espeak-ng is not installed (Debian: apt-get install espeak-ng)")
    return found


def available_concepts(font: Path) -> list[tuple[int, str]]:
    """Every emoji of BLOCKS that has a Unicode name and a glyph in the font, by code point."""
    face = ImageFont.truetype(str(font), 32)
    missing = _mask(face, chr(0xE000))  # a private-use code point: the font's "no glyph" box
    found = []
    for low, high in BLOCKS:
        for point in range(low, high + 1):
            name = unicodedata.name(chr(point), "")
            if not name:
                continue
            mask = _mask(face, chr(point))
            if mask is not None and mask != missing:
                found.append((point, name.lower()))
    return found


def _mask(face: ImageFont.FreeTypeFont, char: str) -> bytes | None:
    mask = face.getmask(char)
    return bytes(mask) if mask.getbbox() else None


def choose(concepts: list[tuple[int, str]], count: int) -> list[tuple[int, str]]:
    """`count` concepts spread evenly over the list (deterministic), so every block is represented."""
    if count > len(concepts):
        raise DatasetUnavailable(f"{count} concepts asked for; the font has {len(concepts)}")
    picks = np.linspace(0, len(concepts) - 1, count).round().astype(int)
    return [concepts[i] for i in picks]


def render(font: Path, point: int, variant: int, size: int = IMAGE_SIZE) -> Image.Image:
    """One rendering of an emoji: glyph size, offset, ink and paper colour drawn from (point, variant)."""
    rng = np.random.default_rng([point, variant, FORMAT])
    glyph = int(rng.integers(size * 5 // 8, size * 7 // 8 + 1))
    paper = tuple(int(v) for v in rng.integers(170, 256, 3))
    ink = tuple(int(v) for v in rng.integers(0, 110, 3))
    dx, dy = (int(v) for v in rng.integers(-size // 12, size // 12 + 1, 2))
    image = Image.new("RGB", (size, size), paper)
    ImageDraw.Draw(image).text((size / 2 + dx, size / 2 + dy), chr(point), font=_font(str(font), glyph), fill=ink, anchor="mm")
    return image


_FONTS: dict[tuple[str, int], ImageFont.FreeTypeFont] = {}


def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    if (path, size) not in _FONTS:
        _FONTS[(path, size)] = ImageFont.truetype(path, size)
    return _FONTS[(path, size)]


def speak(espeak: str, text: str, voice: tuple[str, int, int], path: Path) -> None:
    """The text spoken into a WAV file (espeak-ng writes 22,050 Hz 16-bit mono)."""
    name, speed, pitch = voice
    done = subprocess.run([espeak, "-v", name, "-s", str(speed), "-p", str(pitch), "-w", str(path), text],
                          capture_output=True, timeout=60)
    if done.returncode != 0 or not path.is_file():
        raise DatasetUnavailable(f"espeak-ng failed for {text!r} with voice {name}: {done.stderr.decode(errors='replace')[:200]}")


def build(concepts: int = 64, images: int = 4, voices: int = 6, held_out: int = 2, root: Path | None = None,
          workers: int = 4) -> EmojiPairs:
    """The data set of `concepts` emoji (cached: built once per settings)."""
    if not 1 <= held_out < voices <= len(VOICES):
        raise DatasetUnavailable(f"voices {voices}, held out {held_out}: need 1 <= held_out < voices <= {len(VOICES)}")
    if concepts < 2 or images < 1:
        raise DatasetUnavailable("need at least 2 concepts and 1 rendering each")
    font, espeak = font_path(), espeak_path()
    root = Path(root) if root is not None else cache_dir(default_data_dir(), "bind")
    folder = root / f"emoji-v{FORMAT}-{concepts}c-{images}i-{voices}v-{held_out}h"
    if not (folder / "manifest.json").is_file():
        _build_into(folder, choose(available_concepts(font), concepts), images, voices, held_out, font, espeak, workers)
    manifest = json.loads((folder / "manifest.json").read_text())
    return EmojiPairs(folder, [(int(p), n) for p, n in manifest["concepts"]], images, voices, held_out)


def _build_into(folder: Path, chosen: list[tuple[int, str]], images: int, voices: int, held_out: int, font: Path,
                espeak: str, workers: int) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.building-", dir=folder.parent))
    try:
        (staging / "images").mkdir()
        (staging / "audio").mkdir()
        for point, _ in chosen:
            for v in range(images):
                render(font, point, v).save(staging / "images" / f"{point:x}-{v}.png")
        jobs = [(name, VOICES[v], staging / "audio" / f"{point:x}-{v}.wav") for point, name in chosen for v in range(voices)]
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:  # espeak-ng runs as processes: threads overlap them
            list(pool.map(lambda job: speak(espeak, *job), jobs))
        train_voices, test_voices = range(voices - held_out), range(voices - held_out, voices)
        _write(staging / "image_text.csv", ("image", "text"),
               [(f"images/{p:x}-{v}.png", n) for p, n in chosen for v in range(images)])
        _write(staging / "image_audio.csv", ("image", "audio"),
               [(f"images/{p:x}-{i}.png", f"audio/{p:x}-{v}.wav") for p, _ in chosen for i in range(images) for v in train_voices])
        _write(staging / "text_audio.csv", ("text", "audio"), [(n, f"audio/{p:x}-{v}.wav") for p, n in chosen for v in train_voices])
        _write(staging / "test_audio.csv", ("text", "audio"), [(n, f"audio/{p:x}-{v}.wav") for p, n in chosen for v in test_voices])
        _write(staging / "concepts.csv", ("codepoint", "name"), [(f"{p:x}", n) for p, n in chosen])
        (staging / "manifest.json").write_text(json.dumps({
            "format": FORMAT, "font": font.name, "voices": [list(v) for v in VOICES[:voices]], "held_out": held_out,
            "images": images, "concepts": [[p, n] for p, n in chosen]}, indent=1) + "\n")
        if folder.exists():  # another build finished first: keep its files
            shutil.rmtree(staging)
        else:
            os.rename(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _write(path: Path, header: tuple[str, str], rows: list[tuple[str, str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
