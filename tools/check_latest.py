"""The newest releases, tested: install edgedet *without* the lock into a fresh virtual environment (so the
resolver picks today's newest versions, as a new user's ``pip install`` does) and run the fast test subset.

Drift then shows up here, as a failing run with the packages that moved named beside it, rather than in a
user's bug report. Run it before every stop; when it fails, fix the code (or cap the dependency in
``pyproject.toml`` with a comment linking the upstream issue), then ``python tools/refresh_lock.py``.

Usage: python tools/check_latest.py [--extras train,dev,openvino,quantize,cluster,serve] [--keep DIR] [-- PYTEST ARGS]
Exit status: pytest's (0 when the fast subset passes on the newest releases).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
DEFAULT_EXTRAS = "train,dev,openvino,quantize,cluster,serve"


def locked_versions() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            name, version = line.split("==", 1)
            pins[name.strip().lower().replace("_", "-")] = version.split(";")[0].strip()
    return pins


def installed_versions(python: Path) -> dict[str, str]:
    out = subprocess.run([str(python), "-m", "pip", "list", "--format", "json"], capture_output=True, text=True,
                         check=True).stdout
    return {p["name"].lower().replace("_", "-"): p["version"] for p in json.loads(out)}


def install(venv: Path, extras: str) -> Path:
    python = venv / "bin" / "python"
    uv = shutil.which("uv")
    if uv:  # same resolution as pip's (newest allowed), in a fraction of the time
        subprocess.run([uv, "venv", "-q", "--seed", "--python", sys.executable, str(venv)], check=True)
        subprocess.run([uv, "pip", "install", "-q", "--python", str(python), "-e", f".[{extras}]"], cwd=ROOT,
                       check=True)
    else:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-e", f".[{extras}]"], cwd=ROOT, check=True)
    return python


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extras", default=DEFAULT_EXTRAS)
    parser.add_argument("--keep", type=Path, help="make the environment here and keep it (default: a temporary one)")
    parser.add_argument("pytest_args", nargs="*", help="after --: extra pytest arguments")
    args = parser.parse_args()
    tmp = None if args.keep else tempfile.TemporaryDirectory(prefix="edgedet-latest-")
    venv = args.keep or Path(tmp.name) / "venv"
    try:
        python = install(venv, args.extras)
        pins, now = locked_versions(), installed_versions(python)
        moved = sorted((name, pins[name], version) for name, version in now.items()
                       if name in pins and pins[name] != version)
        new = sorted(name for name in now if name not in pins and name not in ("edgedet", "pip", "setuptools"))
        print(f"newest releases: {len(moved)} package(s) differ from requirements.lock"
              + "".join(f"\n  {name}: locked {old}, newest {version}" for name, old, version in moved)
              + (f"\n  not in the lock: {', '.join(new)}" if new else ""), flush=True)
        result = subprocess.run([str(python), "-m", "pytest", "-q", "-m", "not slow", "-p", "no:cacheprovider",
                                 *args.pytest_args], cwd=ROOT)
        verdict = "passed" if result.returncode == 0 else "FAILED"
        print(f"newest releases: the fast subset {verdict} (pytest exit {result.returncode})"
              + ("" if result.returncode == 0 or not moved else
                 "; suspects, the packages that moved: " + ", ".join(f"{n} {v}" for n, _, v in moved)))
        sys.exit(result.returncode)
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    main()
