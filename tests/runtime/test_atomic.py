"""Files written through ``atomic`` get the mode a plain ``open(path, "w")`` gives (``mkstemp``'s 0600
survived the rename before): checked against files the standard library writes under the same umask."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from edgedet.runtime import atomic
from tests.conftest import cli
from tests.runtime.conftest import write_video


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_a_new_file_gets_the_mode_open_gives_under_the_umask(tmp_path, umask):
    previous = os.umask(umask)
    try:
        plain = tmp_path / "plain.json"
        plain.write_text("{}")
        atomic.write_json(tmp_path / "report.json", {"a": 1})
        atomic.write_bytes(tmp_path / "model.onnx", b"\x08\x07")
        with atomic.atomic_path(tmp_path / "video.mp4") as tmp:
            tmp.write_bytes(b"")  # a path-taking writer (OpenCV, torch.save) opens it as it likes
        pending = atomic.PendingFile(tmp_path / "all.jsonl")
        pending.tmp.write_text("{}\n")
        pending.commit()
    finally:
        os.umask(previous)
    assert mode(plain) == 0o666 & ~umask
    for name in ("report.json", "model.onnx", "video.mp4", "all.jsonl"):
        assert mode(tmp_path / name) == mode(plain), name


def test_a_replaced_file_keeps_its_own_mode(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("old")
    target.chmod(0o640)
    atomic.write_text(target, "new")
    assert target.read_text() == "new" and mode(target) == 0o640


def test_a_run_writes_its_video_log_and_report_as_open_would(onnx_model, tmp_path):
    """What ``edgedet run`` saves, under the usual umask 022: 0644, readable by the box's other users."""
    video, _ = write_video(tmp_path / "in.avi", onnx_model, 6)
    out = tmp_path / "out"
    previous = os.umask(0o022)
    try:
        r = cli("run", onnx_model, "--source", video, "--save", out / "v.mp4", "--jsonl", out / "d.jsonl",
                "--report", out / "r.json", "--threads", "1")
    finally:
        os.umask(previous)
    assert r.returncode == 0, r.stderr
    assert {p.name: oct(mode(p)) for p in out.iterdir()} == {n: oct(0o644) for n in ("v.mp4", "d.jsonl", "r.json")}
