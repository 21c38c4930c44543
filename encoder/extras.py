"""Optional dependencies: a module of an extra that is not installed says which extra to install."""

from __future__ import annotations

import importlib.util


def require(module: str, extra: str) -> None:
    """ImportError naming `pip install 'facegrid[extra]'` when `module` is not installed."""
    if importlib.util.find_spec(module) is None:
        raise ImportError(f"{module} is not installed; it comes with pip install 'facegrid[{extra}]'", name=module)
