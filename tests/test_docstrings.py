"""Every public module, class, function and method says in one line what it is for: ruff's missing-docstring
rules (pydocstyle D1) over every package folder, as [tool.ruff.lint] in pyproject.toml configures them."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_public_name_has_a_docstring():
    if importlib.util.find_spec("ruff") is None:
        pytest.skip("ruff is not installed (it comes with the `test` extra: pip install -e '.[test]')")
    lint = PYPROJECT["tool"]["ruff"]["lint"]
    assert "D1" in lint["select"], "pyproject.toml's [tool.ruff.lint] no longer selects the docstring rules (D1)"
    # Every package folder, as the wheel maps them: a new one cannot be missed.
    folders = sorted(set(PYPROJECT["tool"]["setuptools"]["package-dir"].values()))
    # --select D1 keeps this test to docstrings whatever else the project's ruff config may select one day;
    # its ignores, excludes and per-file ignores still come from pyproject.toml.
    command = [sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", "--select", "D1",
               "--ignore", ",".join(lint.get("ignore", [])), *folders]
    found = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    if found.returncode != 0:
        pytest.fail(f"public names without a docstring (one line: what it is for):\n{found.stdout}{found.stderr}")
