"""Reading images for the runtime: files, folders and globs, always as RGB uint8."""

from __future__ import annotations

import glob
from pathlib import Path

import cv2
import numpy as np

from edgedet.runtime.atomic import atomic_path
from edgedet.runtime.errors import EdgedetError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def read_rgb(path: str | Path) -> np.ndarray:
    """Read an image file as RGB uint8; unreadable files raise one clear error."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise EdgedetError(f"cannot read image '{path}': missing, unreadable or not an image file")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def write_rgb(path: str | Path, image: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
            raise EdgedetError(f"cannot write image '{path}': use an image suffix (.jpg, .png) in a writable folder")


def list_images(spec: str | Path) -> list[Path]:
    """Image paths from a file, a folder (sorted) or a glob pattern."""
    text = str(spec)
    path = Path(text)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    elif path.is_file():
        files = [path]
    else:
        files = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise EdgedetError(f"no images found at '{spec}': give an image file, a folder of images or a glob")
    return files
