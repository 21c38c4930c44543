"""On-disk cache of evaluation embeddings, keyed by pipeline setup and image content hash.

A second `facegrid eval` run reads vectors from here instead of running the
models again; changing the model, detector, mirroring or the pipeline version
gives a new key, so stale vectors are never reused.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import numpy as np


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


class EmbeddingCache:
    """(setup, image sha256) -> (vector, detector) in one SQLite file."""

    def __init__(self, path: Path, setup: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.setup = setup
        self._db = sqlite3.connect(str(path))
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS vectors ("
            " setup TEXT, digest TEXT, vector BLOB, detector TEXT,"
            " PRIMARY KEY (setup, digest))"
        )

    def get(self, digest: str) -> tuple[np.ndarray, str] | None:
        """The cached vector and the detector that found the face, if any."""
        row = self._db.execute(
            "SELECT vector, detector FROM vectors WHERE setup = ? AND digest = ?", (self.setup, digest)
        ).fetchone()
        if row is None:
            return None
        return np.frombuffer(row[0], dtype=np.float32).copy(), row[1]

    def put(self, digest: str, vector: np.ndarray, detector: str) -> None:
        """Store one vector (committed in batches by `commit`)."""
        self._db.execute(
            "INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?)",
            (self.setup, digest, np.asarray(vector, dtype=np.float32).tobytes(), detector),
        )

    def commit(self) -> None:
        """Make the vectors added so far durable (a long run keeps them if it is stopped)."""
        self._db.commit()

    def close(self) -> None:
        """Commit what is pending and close the SQLite file."""
        self._db.commit()
        self._db.close()
