"""Fixtures for the runtime tests. They import no torch, so the same tests run in the bare,
torch-free install (``EDGEDET_TEST_MODEL`` points at a model exported beforehand)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest


@pytest.fixture(scope="session")
def onnx_model(request) -> Path:
    env = os.environ.get("EDGEDET_TEST_MODEL")
    if env:
        return Path(env)
    return request.getfixturevalue("seeded_onnx")


def frames_from(model: Path, count: int, size=(120, 160)) -> list[np.ndarray]:
    """Deterministic frames with coloured shapes the test model has seen."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(count):
        img = np.full((*size, 3), 90, np.uint8)
        img[:] = rng.integers(60, 120, 3, dtype=np.uint8)
        c = (20 + 4 * i % 80, 40)
        cv2.circle(img, c, 18, (230, 40, 40), -1)
        cv2.rectangle(img, (90, 60), (130, 100), (40, 200, 60), -1)
        out.append(img)
    return out


def write_video(path: Path, model: Path, count: int = 24) -> tuple[Path, int]:
    """An MJPEG AVI of ``frames_from(model, count)`` at 30 fps; (path, frame count)."""
    frames = frames_from(model, count)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (160, 120))
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    return path, len(frames)


@pytest.fixture()
def video_file(tmp_path, onnx_model) -> tuple[Path, int]:
    return write_video(tmp_path / "in.avi", onnx_model)


def count_video_frames(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def assert_valid_report(report: dict) -> None:
    """A run report (``RunReport.to_json()``, what ``--report`` writes) against docs/report.schema.json. The
    torch-free copy of these tests (tests/test_torch_free_env.py) has neither docs/ nor jsonschema: it proves
    the engine needs no torch, and the full suite checks the schema."""
    import json
    from pathlib import Path

    schema_path = Path(__file__).resolve().parents[2] / "docs" / "report.schema.json"
    try:
        import jsonschema
    except ImportError:
        return
    if not schema_path.is_file():
        return
    schema = json.loads(schema_path.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(report, schema, cls=jsonschema.Draft202012Validator)
