"""`facegrid group` output: an HTML contact sheet of the groups, and a folder of links per person."""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path

from PIL import Image

from facegrid.encoder.errors import ImageError
from facegrid.encoder.image import decode_image

from .library_results import Groups
from .results import Box


def thumbnail(path: str, box: Box, size: int = 96, margin: float = 0.2) -> str | None:
    """A face cropped from its photo (box (x, y, width, height) in the decoded, EXIF-rotated photo) as a data: URL."""
    try:
        image = decode_image(Path(path).read_bytes())
    except (OSError, ImageError):
        return None
    x, y, w, h = box
    left, top = max(0, int(x - margin * w)), max(0, int(y - margin * h))
    right, bottom = min(image.shape[1], int(x + w * (1 + margin))), min(image.shape[0], int(y + h * (1 + margin)))
    if right <= left or bottom <= top:
        return None
    crop = Image.fromarray(image[top:bottom, left:right])
    crop.thumbnail((size, size))
    buffer = io.BytesIO()
    crop.save(buffer, "JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def _existing(paths) -> str | None:
    return next((p for p in paths if os.path.exists(p)), None)


def write_html(groups: Groups, out: Path, title: str, max_faces: int = 60) -> int:
    """One row per person: group size, face thumbnails linking to their photos. Thumbnails written."""
    rows, written = [], 0
    for number, group in enumerate(groups.groups, start=1):
        cells = []
        for face in list(group.faces)[:max_faces]:
            path = _existing(face.paths)
            image = thumbnail(path, face.box) if path else None
            if image is None:
                continue
            written += 1
            cells.append(
                f'<a class="face" href="{html.escape(Path(path).resolve().as_uri())}" '
                f'title="face {html.escape(face.face_id)}: {html.escape(path)}">'
                f'<img src="{image}" alt="face {html.escape(face.face_id)}"></a>'
            )
        more = len(group.faces) - max_faces
        rows.append(
            f'<section class="group" id="group-{group.group_id}"><h2>{html.escape(group.name) if group.name else f"Person {number}"} '
            f'<span class="count">group {group.group_id}, '
            f'{len(group.faces)} face{"s" if len(group.faces) != 1 else ""}</span></h2>'
            f'<div class="faces">{"".join(cells)}{f"<span class=more>+{more} more</span>" if more > 0 else ""}</div></section>'
        )
    out.write_text(
        "<!doctype html><html lang=en><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font:14px system-ui,sans-serif;margin:24px;background:#fafafa}"
        "h1{font-size:20px}h2{font-size:15px;margin:16px 0 6px}.count{color:#666;font-weight:normal}"
        ".faces{display:flex;flex-wrap:wrap;gap:4px}.face img{width:96px;height:96px;object-fit:cover;border-radius:4px}"
        ".more{align-self:center;color:#666;margin-left:8px}</style>"
        f"<h1>{html.escape(title)}</h1>"
        f"<p>{len(groups.groups)} people; {groups.unassigned} faces in no group; link score {groups.threshold:.3f}</p>"
        + "".join(rows)
        + "</html>\n"
    )
    return written


def write_links(groups: Groups, folder: Path) -> int:
    """folder/person-0001/<photo> symbolic links, one folder per group; links made."""
    made = 0
    for number, group in enumerate(groups.groups, start=1):
        person = folder / f"person-{number:04d}"
        person.mkdir(parents=True, exist_ok=True)
        for face in group.faces:
            path = _existing(face.paths)
            if path is None:
                continue
            link = person / Path(path).name
            if link.is_symlink() or link.exists():
                if link.resolve() == Path(path).resolve():
                    continue
                link = person / f"{face.photo_sha256[:8]}-{Path(path).name}"
                if link.is_symlink() or link.exists():
                    continue
            link.symlink_to(Path(path).resolve())
            made += 1
    return made
