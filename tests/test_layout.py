"""The package layout and its layers: one ``edgedet`` namespace over three folders, and the
import-linter contracts that keep the layers one-way (shown to fail when a layer is crossed)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAPPING = {"edgedet": "edgedet", "edgedet.runtime": "runtime", "edgedet.export": "export"}


def test_every_package_folder_is_listed():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert config["package-dir"] == MAPPING
    found = set()
    for package, folder in MAPPING.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([package, *rel.parts]))
    assert set(config["packages"]) == found


def test_editable_install_resolves_the_folders():
    import edgedet.export
    import edgedet.runtime

    # reached through the package-dir mapping or the edgedet/runtime, edgedet/export links: the same folders
    assert Path(edgedet.runtime.__file__).resolve().parent == ROOT / "runtime"
    assert Path(edgedet.export.__file__).resolve().parent == ROOT / "export"


def _lint(source: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "tools" / "lint_layers.py"), "--source", str(source)],
                          capture_output=True, text=True, timeout=300)


def _copy_project(tmp_path: Path) -> Path:
    dst = tmp_path / "project"
    dst.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, dst / name)
    for folder in MAPPING.values():
        shutil.copytree(ROOT / folder, dst / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return dst


def test_layers_hold():
    r = _lint(ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 kept, 0 broken" in r.stdout


PLANTED = [  # (file, the line planted in it, what the report then says)
    ("runtime/letterbox.py", "import torch  # noqa", "edgedet.runtime.letterbox -> torch"),
    ("export/parity.py", "import edgedet.cli.console  # noqa", "edgedet.export.parity -> edgedet.cli.console"),
    ("edgedet/data/coco.py", "from edgedet.export import roi_spec  # noqa",
     "edgedet.data.coco -> edgedet.export.roi_spec"),
]


@pytest.mark.slow
def test_a_crossed_layer_fails(tmp_path):
    """Each of three crossings, planted in one copy of the project (one import-graph build, not three), is
    reported as its own broken import under the contract it breaks."""
    project = _copy_project(tmp_path)
    for module, line, _ in PLANTED:
        path = project / module
        path.write_text(path.read_text() + f"\n{line}\n")
    r = _lint(project)
    assert r.returncode != 0
    assert "One way: runtime <- model side <- export <- CLI BROKEN" in r.stdout, r.stdout
    assert "The runtime is the torch-free edge install BROKEN" in r.stdout, r.stdout
    assert "Contracts: 0 kept, 2 broken." in r.stdout, r.stdout
    for _, _, chain in PLANTED:
        assert chain in r.stdout, r.stdout
