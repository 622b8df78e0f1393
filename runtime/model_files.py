"""Opening a model file: one check for what every command that takes a model needs first.

A path that does not exist, a folder, or an empty file is answered here with one line; the
backends then answer files that are damaged or of the wrong kind in their own terms.
"""

from __future__ import annotations

from pathlib import Path

from edgedet.runtime.errors import EdgedetError

ONNX_SUFFIXES = (".onnx",)
ENGINE_SUFFIXES = (".engine", ".plan")
CHECKPOINT_SUFFIXES = (".pt", ".pth")


def require_model_file(path: str | Path, what: str = "model file") -> Path:
    path = Path(path)
    if not path.exists():
        raise EdgedetError(f"{what} '{path}' does not exist")
    if not path.is_file():
        raise EdgedetError(f"{what} '{path}' is a folder, not a file")
    if path.stat().st_size == 0:
        raise EdgedetError(f"{what} '{path}' is empty (0 bytes): re-export or re-download it")
    return path
