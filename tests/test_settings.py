"""One settings object: server/config.py reads the environment, everything else is handed what it read."""

from __future__ import annotations

import ast
from pathlib import Path

from facegrid.encoder.runtime import EncoderSettings
from facegrid.evaluation.datasets import faces_dir, pad_dir
from facegrid.evaluation.lfw import encoder_settings
from facegrid.server.config import Settings

ROOT = Path(__file__).resolve().parents[1]
READ_NOTHING = ("encoder", "index", "server", "evaluation", "bench", "clients")
THE_READER = ROOT / "server" / "config.py"
# The thin client has no server code: its own settings (address, key) are read in one place, clients/settings.py.
THE_CLIENTS_READER = ROOT / "clients" / "settings.py"


def environment_reads(source: str) -> list[int]:
    """Lines that read os.environ or call os.getenv; handing os.environ on to a child process (`{**os.environ}`,
    `env=os.environ.copy()`) and writing it (`os.environ[k] = v`, setdefault) are not reads."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = ast.unparse(node.func.value)
            if (owner == "os" and node.func.attr == "getenv") or (owner == "os.environ" and node.func.attr == "get"):
                lines.append(node.lineno)
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and ast.unparse(node.value) == "os.environ":
            lines.append(node.lineno)
        elif isinstance(node, ast.Compare) and any(ast.unparse(c) == "os.environ" for c in node.comparators):
            lines.append(node.lineno)  # "FACEGRID_X" in os.environ
    return sorted(lines)


def test_the_reader_is_recognised_and_a_child_environment_is_not_a_read():
    assert environment_reads(THE_READER.read_text())  # the check sees the one real reader
    assert environment_reads("import os\nx = os.getenv('A') or os.environ['B']\ny = 'C' in os.environ\n") == [2, 2, 3]
    assert environment_reads("import os\nrun(env={**os.environ, 'A': '1'})\nos.environ['B'] = '2'\nos.environ.setdefault('C', '3')\n") == []


def test_only_server_config_reads_the_environment():
    found = [f"{path.relative_to(ROOT)}:{line}" for folder in READ_NOTHING for path in sorted((ROOT / folder).rglob("*.py"))
             if path not in (THE_READER, THE_CLIENTS_READER) for line in environment_reads(path.read_text())]
    assert found == [], "read FACEGRID_* in server/config.py (Settings) and pass the value down"


def test_settings_hand_the_configured_folders_down(monkeypatch, tmp_path):
    faces, pad = tmp_path / "faces", tmp_path / "pad"
    faces.mkdir()
    pad.mkdir()
    monkeypatch.setenv("FACEGRID_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FACEGRID_FACES_DIR", str(faces))
    monkeypatch.setenv("FACEGRID_PAD_DIR", str(pad))
    monkeypatch.delenv("FACEGRID_CACHE_DIR", raising=False)
    settings = Settings()
    assert (settings.data_dir, settings.encoder().cache_dir) == (tmp_path / "data", tmp_path / "data" / "cache")
    assert (faces_dir(), pad_dir()) == (faces, pad)
    evaluation = encoder_settings(None)  # an evaluation run's folders: under the configured data directory
    assert (evaluation.cache_dir, evaluation.models_dir) == (tmp_path / "data" / "cache", tmp_path / "data" / "models")
    assert encoder_settings(tmp_path / "m").models_dir == tmp_path / "m"


def test_the_encoder_library_reads_no_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("FACEGRID_DATA_DIR", str(tmp_path / "data"))
    default = EncoderSettings()  # library use without Settings: the default folders, whatever the environment says
    assert not str(default.cache_dir).startswith(str(tmp_path))
    under = EncoderSettings.under(tmp_path / "data", threads=1)
    assert (under.cache_dir, under.models_dir, under.threads) == (tmp_path / "data" / "cache", tmp_path / "data" / "models", 1)
    assert EncoderSettings.under(tmp_path, models_dir=tmp_path / "m").models_dir == tmp_path / "m"
