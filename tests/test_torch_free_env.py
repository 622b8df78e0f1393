"""The edge install: a virtual environment with only ``pip install edgedet`` (no torch) runs the
runtime tests and ``edgedet run model.onnx``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def bare_env(tmp_path_factory) -> Path:
    venv = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", str(ROOT), "pytest"], check=True, timeout=900)
    return py


def test_bare_install_has_no_torch(bare_env):
    r = subprocess.run([str(bare_env), "-c", "import torch"], capture_output=True, text=True)
    assert r.returncode != 0 and "No module named 'torch'" in r.stderr


def test_runtime_tests_pass_without_torch(bare_env, edge_onnx):
    env = {**os.environ, "EDGEDET_TEST_MODEL": str(edge_onnx), "PYTHONPATH": str(ROOT)}
    r = subprocess.run([str(bare_env), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/runtime"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert " passed" in r.stdout
