"""The data directory is the owner's alone: folders 0700, files 0600.

It holds biometric data (the embedded Redis's append-only file: names and face vectors), the
pseudonym secret and imported models. Folders facegrid makes are made 0700, and folders and files
found with group or other permissions (a data directory of an older version, or one made by hand)
lose them at start. The embedded Redis runs with umask 077, so what it writes is 0600 from the start.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077


def private_folder(path: Path) -> Path:
    """Make the folder (and missing parents) 0700, or take group and other permissions from one that exists."""
    path = Path(path)
    for folder in reversed([p for p in (path, *path.parents) if not p.exists()]):  # parents 0700 too
        folder.mkdir(mode=0o700, exist_ok=True)
    _tighten(path, 0o700)
    return path


def private_tree(path: Path) -> None:
    """Every folder under `path` 0700 at most and every file 0600 at most (symbolic links are left alone)."""
    for root, folders, files in os.walk(path):
        for name in folders:
            _tighten(Path(root) / name, 0o700)
        for name in files:
            _tighten(Path(root) / name, 0o600)


def private_umask() -> None:
    """In a child process before exec (the embedded Redis): files it creates are 0600, folders 0700."""
    os.umask(PRIVATE_UMASK)


def _tighten(path: Path, most: int) -> None:
    try:
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode) or path.lstat().st_uid != os.getuid():
            return  # not ours to change (a link, or another user's file in a shared folder)
        if stat.S_IMODE(mode) & ~most:
            os.chmod(path, stat.S_IMODE(mode) & most)
    except FileNotFoundError:
        pass  # gone meanwhile (a socket or temp file)
