"""Writing a model folder all at once: built in a hidden temporary folder beside it, renamed at the end.

A failed import (wrong architecture, an export that does not match torch) leaves nothing behind, and
the registry, which skips folders whose name starts with '.', never sees a half-written model.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..errors import ImportFailed

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # the registry's rule, and no leading '.'


def check_name(name: str) -> str:
    """The model name, or ImportFailed when the registry would not accept it as a folder and model name."""
    if not _NAME.match(name or ""):
        raise ImportFailed(f"model name {name!r}: use 1-64 letters, digits, '.', '_' or '-', not starting with '.', '_' or '-'")
    return name


def default_name(prefix: str, arch: str) -> str:
    """A folder-safe default name: 'clip-vit-b-32', 'resnet50'."""
    cleaned = re.sub(r"[^a-z0-9._-]+", "-", arch.lower()).strip("-._")
    return check_name(f"{prefix}{cleaned}" if prefix and not cleaned.startswith(prefix) else cleaned)


@contextmanager
def staged_folder(models_dir: Path, name: str) -> Iterator[Path]:
    """Yield an empty hidden folder to fill; on success it becomes models_dir/name, on any error it is removed."""
    models_dir = Path(models_dir).expanduser()
    target = models_dir / check_name(name)
    if target.exists():
        raise ImportFailed(f"{target} already exists: remove it first or choose another --name")
    try:
        models_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ImportFailed(f"{models_dir}: cannot create the models folder ({error})") from None
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.importing-", dir=models_dir))
    try:
        yield staging
        try:
            os.rename(staging, target)  # atomic on one file system; fails if another import took the name meanwhile
        except OSError as error:
            raise ImportFailed(f"{target}: cannot move the finished import into place ({error})") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def write_json(path: Path, value: dict) -> None:
    """Write a JSON file (creating its folder), indented for people to read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file: the card records which checkpoint a folder was made from."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
