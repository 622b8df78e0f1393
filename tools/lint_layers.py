"""Check the import layers (``[tool.importlinter]`` in pyproject.toml) on the package as pip installs it.

Why not plain ``lint-imports``: the three top-level folders become one ``edgedet`` namespace
through setuptools' ``package-dir``, and an editable install resolves ``edgedet.runtime`` through
an import hook, which import-linter's graph builder (it walks the package's folder) cannot see.
So the package is installed into a temporary folder, exactly as a user gets it, and linted there.

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
