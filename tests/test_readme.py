"""The README a newcomer reads: short, its first screen says what has and has not been verified, its
Python snippet runs as written (on the suite's seeded model and a real photo), and its links lead to
files that exist."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
from skimage import data as skimage_data

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_the_readme_is_short_and_says_what_is_verified_first():
    assert len(README.splitlines()) <= 250
    first_screen = "\n".join(README.splitlines()[:30])
    assert "## Status" in first_screen and "not run yet" in first_screen and "TensorRT" in first_screen


def test_the_python_snippet_runs_as_written(seeded_onnx, tmp_path):
    (snippet,) = re.findall(r"```python\n(.*?)```", README, re.S)
    shutil.copy(seeded_onnx, tmp_path / "model.onnx")
    cv2.imwrite(str(tmp_path / "photo.jpg"), cv2.cvtColor(skimage_data.astronaut(), cv2.COLOR_RGB2BGR))
    r = subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1].startswith("[{'box': ") or r.stdout.strip() == "[]", r.stdout


def test_every_local_link_leads_somewhere():
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if not target.startswith(("http://", "https://")):
                assert (page.parent / target).exists(), f"{page.relative_to(ROOT)}: {target}"
