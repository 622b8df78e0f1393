"""INT8 calibration data and cache: letterboxed uint8 batches exactly as the runtime feeds them,
and a cache file that is written atomically and reused (its sha256 goes into the manifest)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from runtime.errors import EdgedetError
from runtime.images import list_images, read_rgb
from runtime.letterbox import letterbox


def calibration_batches(folder: str | Path, canvas: tuple[int, int], batch: int, fill: int = 114,
                        limit: int | None = 512) -> Iterator[np.ndarray]:
    """uint8 [batch, H, W, 3] batches; the last partial batch is dropped (TensorRT wants full ones)."""
    files = list_images(folder)[:limit]
    if len(files) < batch:
        raise EdgedetError(f"--calib '{folder}' has {len(files)} images, fewer than one batch of {batch}")
    for start in range(0, len(files) - batch + 1, batch):
        yield np.stack([letterbox(read_rgb(p), canvas, fill)[0] for p in files[start:start + batch]])


def read_cache(path: str | Path | None) -> bytes | None:
    if path and Path(path).is_file():
        return Path(path).read_bytes()
    return None


def write_cache(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(bytes(data))
    os.replace(tmp, path)
