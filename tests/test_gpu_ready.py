"""GPU-ready: one runtime extra per install (cpu or gpu, never both), FAISS's device chosen in one
place, CUDA warm-up. This machine has no GPU: the tests check the CPU branch of the same code
path (on a GPU machine with the gpu extra, the same tests run the GPU branch)."""

from __future__ import annotations

import importlib.metadata
import logging
import re
import tomllib
from pathlib import Path

import faiss
import numpy as np
import pytest

from facegrid.encoder import runtime
from facegrid.encoder.models import load_model
from facegrid.encoder.warmup import warm_up, warm_up_face_model
from facegrid.index.cluster import kmeans
from facegrid.index.faiss_store import FaissStore
from facegrid.index.gpu import gpu_count
from facegrid.index.settings import IndexSettings
from facegrid.server.config import Settings

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
EXTRAS = PROJECT["optional-dependencies"]

# The module each runtime package installs: two packages of one module must never meet in one install.
PROVIDES = {"onnxruntime": "onnxruntime", "onnxruntime-gpu": "onnxruntime", "faiss-cpu": "faiss", "faiss-gpu-cu12": "faiss"}
PINS = {
    "cpu": {"onnxruntime": "1.32.0", "faiss-cpu": "1.15.1"},
    "gpu": {"onnxruntime-gpu": "1.31.1", "faiss-gpu-cu12": "1.14.1"},  # newest onnxruntime-gpu on PyPI: 1.31.1
    "import": {"torch": "2.14.1", "torchvision": "0.29.1", "open_clip_torch": "3.3.0"},
}


def requirement(text: str) -> tuple[str, str]:
    """(normalised name, pinned version or "") of a requirement string such as 'onnxruntime-gpu[cuda]==1.31.1'."""
    match = re.match(r"\s*([A-Za-z0-9_.-]+)\s*(\[[^\]]*\])?\s*(==\s*([^;,\s]+))?", text)
    return match.group(1).lower().replace("_", "-"), match.group(4) or ""


def modules(requirements: list[str]) -> list[str]:
    return [PROVIDES[name] for name, _ in map(requirement, requirements) if name in PROVIDES]


def test_cpu_and_gpu_extras_each_bring_one_onnx_runtime_and_one_faiss():
    assert sorted(modules(EXTRAS["cpu"])) == ["faiss", "onnxruntime"]
    assert sorted(modules(EXTRAS["gpu"])) == ["faiss", "onnxruntime"]
    # Nothing else brings either: an install of [cpu] or [gpu] with any other extras holds exactly one of each.
    assert modules(PROJECT["dependencies"]) == []
    for extra in set(EXTRAS) - {"cpu", "gpu"}:
        assert modules(EXTRAS[extra]) == [], extra


def test_extras_pin_the_versions_that_exist():
    for extra, pins in PINS.items():
        pinned = dict(map(requirement, EXTRAS[extra]))
        for name, version in pins.items():
            assert pinned.get(requirement(name)[0]) == version, f"[{extra}] {name}"


@pytest.mark.parametrize("package", ["onnxruntime", "onnxruntime-gpu", "faiss-cpu", "faiss-gpu-cu12"])
def test_the_module_table_matches_installed_packages(package):
    try:
        files = importlib.metadata.distribution(package).files or []
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"{package} is not installed here (the other runtime is)")
    assert f"{PROVIDES[package]}/__init__.py" in {f.as_posix() for f in files}


def install_commands() -> list[tuple[str, str]]:
    """(file, command) for every pip install of this project in the docs, CI and the image."""
    found = []
    for name in ["README.md", ".ci/run", "Dockerfile", *(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]:
        for line in (ROOT / name).read_text().splitlines():
            for command in re.findall(r"pip install[^&\n]*", line):
                if re.search(r"(^|\s)(-e\s+)?['\"]?(\.|facegrid)(\[|['\"]|\s|$)", command.removeprefix("pip install")):
                    found.append((name, command))
    return found


def test_every_install_command_names_exactly_one_runtime_extra():
    """A server install names exactly one of cpu and gpu; the client installs (the thin `facegrid`, `[door]`) none."""
    commands = install_commands()
    assert {name for name, _ in commands} >= {"README.md", ".ci/run", "Dockerfile"}
    default_runtime = re.search(r"^ARG RUNTIME=(\w+)", (ROOT / "Dockerfile").read_text(), re.M).group(1)
    for name, command in commands:
        extras = re.search(r"\[([^\]]*)\]", command)
        chosen = [e.strip() for e in extras.group(1).replace("${RUNTIME}", default_runtime).split(",")] if extras else []
        runtimes = [e for e in chosen if e in ("cpu", "gpu")]
        if runtimes or set(chosen) - {"door"}:
            assert len(runtimes) == 1, f"{name}: {command!r} must name exactly one of [cpu] and [gpu]"
    readme = (ROOT / "README.md").read_text()
    assert "'.[cpu,test,import,train,bench]'" in readme and "'.[cpu,test,import,train,bench]'" in (ROOT / ".ci/run").read_text()


def test_the_gpu_profile_builds_the_gpu_extra_and_reserves_a_gpu():
    yaml = pytest.importorskip("yaml", reason="PyYAML reads the compose files")
    service = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["encoder-gpu"]
    assert service["profiles"] == ["gpu"] and service["build"] == {"context": ".", "args": {"RUNTIME": "gpu"}}
    devices = service["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    assert "ARG RUNTIME=cpu" in (ROOT / "Dockerfile").read_text()  # the plain compose file builds the CPU image


# --- FAISS: the device chosen in one place --------------------------------------------------------


def test_faiss_uses_the_gpus_it_sees_unless_the_settings_turn_them_off():
    assert gpu_count(IndexSettings()) == faiss.get_num_gpus()  # 0 here: faiss-cpu, no GPU
    assert gpu_count(IndexSettings(gpu=False)) == 0
    assert FaissStore("on", 8).on_gpu == (faiss.get_num_gpus() > 0)
    assert not FaissStore("off", 8, IndexSettings(gpu=False)).on_gpu


def test_the_server_setting_reaches_the_index(monkeypatch):
    assert Settings().index() == IndexSettings(gpu=True)
    assert Settings().with_overrides(index_gpu=False).index() == IndexSettings(gpu=False)
    monkeypatch.setenv("FACEGRID_INDEX_GPU", "0")
    assert Settings().index() == IndexSettings(gpu=False)


@pytest.mark.parametrize("settings", [IndexSettings(), IndexSettings(gpu=False)])
def test_search_stays_exact_through_adds_replacements_removals_and_rebuilds(settings):
    """Against a plain dict, with 1 query (the BLAS scan on a CPU) and 9 (FAISS's search; on a GPU both
    go through the GPU copy, rebuilt after each removal)."""
    rng = np.random.default_rng(7)
    dim = 16
    collection = FaissStore("churn", dim, settings)
    truth: dict[int, np.ndarray] = {}

    def check():
        queries = rng.standard_normal((9, dim)).astype(np.float32)
        if not truth:
            assert collection.search(queries, 3).ids.max() == -1
            return
        ids = np.array(sorted(truth))
        stored = np.stack([truth[i] for i in ids])
        for batch in (queries[:1], queries):
            hits = collection.search(batch, 5)
            expected = ids[np.argsort(-(batch @ stored.T), axis=1, kind="stable")[:, : hits.ids.shape[1]]]
            np.testing.assert_array_equal(hits.ids, expected)

    for step in range(60):
        action = rng.integers(4) if step % 20 else 4
        if action <= 1:  # add, some ids already present (replacement)
            new = rng.integers(0, 80, size=int(rng.integers(1, 6)))
            new = np.unique(new)
            vectors = rng.standard_normal((len(new), dim)).astype(np.float32)
            collection.add(new, vectors)
            truth.update(zip(new.tolist(), vectors))
        elif action == 2:
            gone = rng.integers(0, 80, size=4)
            assert collection.remove(gone) == len(set(gone.tolist()) & set(truth))
            for i in gone.tolist():
                truth.pop(i, None)
        elif action == 3:
            collection.add(np.arange(100 + step, 102 + step), rng.standard_normal((2, dim)).astype(np.float32))
            truth.update(zip(range(100 + step, 102 + step), collection.items()[1][-2:]))
        else:  # a rebuild
            ids = np.arange(50, 70)
            vectors = rng.standard_normal((20, dim)).astype(np.float32)
            collection.replace(ids, vectors)
            truth = dict(zip(ids.tolist(), vectors))
        check()
    assert collection.count() == len(truth)


def test_kmeans_runs_with_the_gpu_turned_off():
    centres = np.eye(4, 8, dtype=np.float32)
    points = np.repeat(centres, 50, axis=0) + np.random.default_rng(0).normal(0, 0.01, (200, 8)).astype(np.float32)
    result = kmeans(points, 4, settings=IndexSettings(gpu=False))
    assert len(np.unique(result.labels)) == 4 and all(len(np.unique(result.labels[i * 50 : (i + 1) * 50])) == 1 for i in range(4))


# --- CUDA warm-up ---------------------------------------------------------------------------------


def test_warm_up_is_skipped_on_the_cpu(caplog):
    calls = []
    with caplog.at_level(logging.INFO, logger="facegrid.encoder.warmup"):
        assert warm_up(calls.append, (3, 224, 224), range(1, 17), on_cuda=False, name="image tower") == {}
    assert calls == [] and "image tower runs on the CPU: no warm-up" in caplog.text


def test_warm_up_runs_each_batch_size_once_with_the_input_shape():
    """The CUDA branch, run on the CPU: the same calls, on a real model's run(batch)."""
    sface = load_model("sface")
    seen = []

    def run(batch: np.ndarray) -> np.ndarray:
        seen.append((batch.shape, batch.dtype))
        return sface._embed_raw(batch)

    seconds = warm_up(run, (112, 112, 3), [3, 1, 2, 2], on_cuda=True, dtype=np.uint8)
    assert seen == [((n, 112, 112, 3), np.uint8) for n in (1, 2, 3)]
    assert sorted(seconds) == [1, 2, 3] and all(s > 0 for s in seconds.values())
    with pytest.raises(ValueError):
        warm_up(run, (112, 112, 3), [0, 1], on_cuda=True)


def test_the_served_face_model_is_not_warmed_up_on_the_cpu():
    fused = load_model("fused")
    assert not any(part.session.on_cuda for part in fused.parts)  # real sessions, CPU here
    assert warm_up_face_model(fused, 16) == {"dlib": {}, "sface": {}}
