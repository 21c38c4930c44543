"""Optional dependencies: a module of an extra that is not installed says which extra to install."""

from __future__ import annotations

import importlib.util


def missing(module: str, extra: str) -> str:
    """What to say when `module` is not installed: the extra that brings it."""
    return f"{module} is not installed; it comes with pip install 'facegrid[{extra}]'"


def require(module: str, extra: str) -> None:
    """ImportError naming `pip install 'facegrid[extra]'` when `module` is not installed."""
    if importlib.util.find_spec(module) is None:
        raise ImportError(missing(module, extra), name=module)
