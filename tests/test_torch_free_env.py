"""The edge install: a virtual environment with only ``pip install edgedet`` (no extras, no torch)
provides exactly one import package, ``edgedet``, runs ``edgedet run model.onnx`` and passes the
runtime tests. Everything runs from a folder outside the checkout, so nothing is imported from
the source folders by accident."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def bare_env(tmp_path_factory) -> Path:
    venv = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", str(ROOT), "pytest"], check=True, timeout=900)
    return py


@pytest.fixture()
def outside(tmp_path) -> Path:
    """A working folder with no source tree in it."""
    return tmp_path


def _py(bare_env: Path, code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(bare_env), "-c", code], capture_output=True, text=True, cwd=cwd)


def test_one_import_package_and_no_torch(bare_env, outside):
    r = _py(bare_env, "import importlib.metadata as m, json; "
            "print(json.dumps(sorted({p.parts[0] for p in m.files('edgedet') if p.suffix == '.py' "
            "and p.parts[0] != '..'})))", outside)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == ["edgedet"]
    for name in ("runtime", "export", "torch"):
        r = _py(bare_env, f"import {name}", outside)
        assert r.returncode != 0 and f"No module named '{name}'" in r.stderr, (name, r.stderr)
    r = _py(bare_env, "import edgedet.runtime, edgedet.export; print(edgedet.runtime.__file__)", outside)
    assert r.returncode == 0 and "site-packages" in r.stdout, r.stderr


def test_edgedet_run_without_torch(bare_env, seeded_onnx, synth_data, outside):
    edgedet = bare_env.with_name("edgedet")
    r = subprocess.run([str(edgedet), "run", str(seeded_onnx), "--source", str(synth_data / "val" / "images"),
                        "--max-frames", "3", "--json"], capture_output=True, text=True, cwd=outside, timeout=300)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["frames_processed"] == 3 and report["backend"] == "onnxruntime"


def test_exporter_commands_say_what_to_install(bare_env, seeded_onnx, synth_data, outside):
    edgedet = bare_env.with_name("edgedet")
    for argv, extra in ((["export", str(seeded_onnx), "-o", "m.onnx"], "'.[train]'"),
                        (["quantize", str(seeded_onnx), "--calib", str(synth_data / "val" / "images")],
                         "'.[train,quantize]'"),
                        (["run", str(seeded_onnx), "-s", str(synth_data / "val" / "images"), "--ray", "local",
                          "--jsonl", "d.jsonl"], "'.[cluster]'")):
        r = subprocess.run([str(edgedet), *argv], capture_output=True, text=True, cwd=outside, timeout=300)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), r.stderr
        assert extra in lines[0] and "Traceback" not in r.stderr
    assert list(outside.iterdir()) == []


def test_runtime_tests_pass_without_torch(bare_env, seeded_onnx, outside):
    tests = outside / "tests"
    shutil.copytree(ROOT / "tests" / "runtime", tests / "runtime", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "tests" / "__init__.py", tests / "__init__.py")
    (outside / "pytest.ini").write_text("[pytest]\nmarkers =\n    slow: slow\n")
    env = {**os.environ, "EDGEDET_TEST_MODEL": str(seeded_onnx)}
    env.pop("PYTHONPATH", None)
    # the fast tests of the stream loop and the multi-stream scheduler, which import every runtime
    # module a run uses (sources, sinks, the engine, backends): what this proves is that none
    # needs torch. The rest (fuzzed and live streams, a browser) exercise the same modules and run in the
    # full environment; running them twice would cost a minute of the CI budget.
    r = subprocess.run([str(bare_env), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow",
                        "tests/runtime/test_streaming.py", "tests/runtime/test_multistream.py"],
                       cwd=outside, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert " passed" in r.stdout
