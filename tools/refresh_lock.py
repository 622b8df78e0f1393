"""Write ``requirements.lock``: the exact versions the README's commands and CI install, for CPython 3.11 on
x86-64 Linux, resolved by ``uv pip compile`` (``pip install uv``) from ``pyproject.toml``'s requirements and
every extra that installs together.

Left out of the lock, on purpose: ``gpu`` (onnxruntime-gpu and the base onnxruntime are one module in two
wheels), ``trt`` and ``trt-cu12`` (TensorRT's wheels are fetched from NVIDIA's index while pip reads their
metadata; they install beside the lock, see docs/install.md).

Refresh on purpose (a new release you want, a security fix), then run the suite::

    python tools/refresh_lock.py            # rewrite requirements.lock at the newest versions allowed
    python tools/refresh_lock.py --add      # keep every pin, add what a new requirement brings
    python tools/refresh_lock.py --check    # exit 1 when the lock no longer matches pyproject.toml
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
EXTRAS = ("train", "dev", "openvino", "quantize", "cluster", "serve")
PYTHON = "3.11"
PLATFORM = "x86_64-manylinux_2_28"


def uv() -> list[str]:
    found = shutil.which("uv")
    if found:
        return [found]
    try:
        import uv as uv_module  # the PyPI package ships the binary
    except ImportError:
        sys.exit("uv is needed: pip install uv")
    return [uv_module.find_uv_bin()]


def compile_lock(out: Path, upgrade: bool) -> None:
    extras = [arg for extra in EXTRAS for arg in ("--extra", extra)]
    cmd = [*uv(), "pip", "compile", "pyproject.toml", *extras, "--python-version", PYTHON, "--python-platform",
           PLATFORM, "--no-header", "--quiet", "-o", str(out)]
    if upgrade:
        cmd.append("--upgrade")
    elif LOCK.exists() and out.resolve() != LOCK.resolve():  # keep every pin the lock has, add what is missing
        shutil.copyfile(LOCK, out)
    subprocess.run(cmd, cwd=ROOT, check=True)
    body = out.read_text()
    out.write_text("# Exact versions for CPython 3.11 on x86-64 Linux, every extra that installs together\n"
                   f"# ({', '.join(EXTRAS)}). Written by tools/refresh_lock.py (uv pip compile); do not edit.\n"
                   "# Used as a constraints file: pip install -c requirements.lock -e '.[train,dev]'\n" + body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the lock still resolves as it is")
    parser.add_argument("--add", action="store_true", help="keep every pin, add what new requirements bring")
    args = parser.parse_args()
    if args.add:
        compile_lock(LOCK, upgrade=False)
        print(f"added to {LOCK.relative_to(ROOT)}")
        return
    if not args.check:
        compile_lock(LOCK, upgrade=True)
        print(f"wrote {LOCK.relative_to(ROOT)}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        again = Path(tmp) / "lock"
        compile_lock(again, upgrade=False)
        if again.read_text() != LOCK.read_text():
            sys.exit("requirements.lock does not match pyproject.toml: run python tools/refresh_lock.py")
    print("requirements.lock matches pyproject.toml")


if __name__ == "__main__":
    main()
