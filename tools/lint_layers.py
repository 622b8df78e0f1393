"""Check the import layers (``[tool.importlinter]`` in pyproject.toml) on the package as pip installs it.

Plain ``lint-imports`` checks the checkout (import-linter walks the ``edgedet`` folder; the links
``edgedet/runtime`` and ``edgedet/export`` show it the two folders setuptools maps in through
``package-dir``). This checks what a user gets: the package installed into a temporary folder,
linted there, so a contract cannot hold in the checkout only because of how the folders are linked.

Usage: python tools/lint_layers.py [--source DIR]   (exit 0 when every contract holds)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def stage(source: Path, target: Path) -> None:
    """``pip install --target``: the installed layout, without dependencies."""
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(source)], check=True, stdout=subprocess.DEVNULL)


def lint(source: Path) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as tmp:
        stage(source, Path(tmp))
        env = {**os.environ, "PYTHONPATH": tmp}
        lint_imports = Path(sys.executable).with_name("lint-imports")
        return subprocess.run([str(lint_imports), str(source / "pyproject.toml"), "--no-cache"],
                              cwd=tmp, env=env, capture_output=True, text=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", type=Path, default=ROOT, help="project folder (default: this checkout)")
    args = ap.parse_args()
    result = lint(args.source.resolve())
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
