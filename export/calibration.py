"""INT8 calibration data: letterboxed uint8 batches exactly as the runtime feeds them. Polygraphy's
``Calibrator`` copies them to the GPU and reads/writes the cache (its sha256 goes into the manifest)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from edgedet.runtime.errors import EdgedetError
from edgedet.runtime.images import list_images, read_rgb
from edgedet.runtime.letterbox import letterbox

CALIBRATION_LIMIT = 512


def check_calibration_set(folder: str | Path, batch: int, limit: int | None = CALIBRATION_LIMIT) -> int:
    """The number of calibration images, checked before a build starts: inside the build TensorRT
    swallows errors raised while it pulls batches."""
    count = len(list_images(folder)[:limit])
    if count < batch:
        raise EdgedetError(f"calibration folder '{folder}' has {count} images, fewer than one batch of {batch}")
    return count


def calibration_batches(folder: str | Path, canvas: tuple[int, int], batch: int, fill: int = 114,
                        limit: int | None = CALIBRATION_LIMIT) -> Iterator[np.ndarray]:
    """uint8 [batch, H, W, 3] batches; the last partial batch is dropped (TensorRT wants full ones)."""
    check_calibration_set(folder, batch, limit)
    files = list_images(folder)[:limit]
    for start in range(0, len(files) - batch + 1, batch):
        yield np.stack([letterbox(read_rgb(p), canvas, fill)[0] for p in files[start:start + batch]])


def read_cache(path: str | Path | None) -> bytes | None:
    if path and Path(path).is_file():
        return Path(path).read_bytes()
    return None
