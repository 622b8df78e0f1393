"""OpenVINO's start-up work, done once per model file: the ONNX file read, its local functions inlined and
converted to OpenVINO's IR, saved with the file's metadata under a folder named by the file's SHA-256; the
compiled model is then cached beside it by OpenVINO itself (``CACHE_DIR``). A camera service that restarts
compiles from the IR's blob instead of parsing and converting the ONNX file again.

The folder is ``$EDGEDET_CACHE/openvino`` (default ``~/.cache/edgedet/openvino``); ``EDGEDET_CACHE=off``
turns caching off. An entry is written to a temporary folder and renamed into place, so a crash never
leaves half of one; an entry that cannot be read is rebuilt."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgedet.runtime.hashing import sha256_file


@dataclass(frozen=True)
class CachedModel:
    folder: Path  # what CACHE_DIR points at: OpenVINO keeps its compiled blobs here
    ir: Path  # model.xml (weights in model.bin beside it)
    props: dict[str, str]  # the ONNX file's metadata


def cache_root() -> Path | None:
    """Where entries live, or None when ``EDGEDET_CACHE=off``."""
    base = os.environ.get("EDGEDET_CACHE")
    if base is not None and base.strip().lower() in ("off", "0", "no", ""):
        return None
    return (Path(base) if base else Path.home() / ".cache" / "edgedet") / "openvino"


def cached_model(path: Path, root: Path, convert: Callable[[], tuple[object, dict[str, str]]]) -> CachedModel:
    """The entry for ``path`` under ``root``, made with ``convert() -> (ov.Model, metadata)`` when missing
    or unreadable."""
    import openvino as ov

    folder = root / sha256_file(path)
    ir = folder / "model.xml"
    try:
        return CachedModel(folder, ir, json.loads((folder / "props.json").read_text()))
    except (OSError, ValueError):
        pass
    model, props = convert()
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
    try:
        ov.save_model(model, str(staging / "model.xml"), compress_to_fp16=False)
        (staging / "props.json").write_text(json.dumps(props))  # last: its presence marks the entry whole
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(staging, folder)
    except OSError:  # a read-only or full disk: nothing left behind; the caller runs without the cache
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return CachedModel(folder, ir, props)
