"""Request bodies into images, with the checks a network-facing decoder needs: a body size limit and a pixel
budget read from the image's header *before* it is decoded, so a small file that claims 100 000 x 100 000
pixels (a decompression bomb) is refused instead of exhausting memory.

Pillow reads the header (format and size, nothing decoded); OpenCV decodes, as ``edgedet predict``
reads files, so the same bytes give the same pixels."""

from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from edgedet.runtime.serve.refusal import Refused

FORMATS = frozenset({"JPEG", "PNG", "BMP", "TIFF", "WEBP"})
# how a whole file of these formats ends (OpenCV decodes a truncated JPEG into a grey-bottomed image, no error)
ENDINGS = {"JPEG": b"\xff\xd9", "PNG": b"IEND\xaeB`\x82"}


class BadUpload(Refused):
    """A request body that is not an acceptable image: ``status`` (400, 413 or 415) and what was wrong."""


@dataclass(frozen=True)
class Upload:
    name: str
    image: np.ndarray  # RGB uint8 [H, W, 3]


def decode(name: str, data: bytes, max_pixels: int) -> Upload:
    """One image file's bytes as RGB; ``BadUpload`` when empty, not an image, over ``max_pixels`` or broken."""
    if not data:
        raise BadUpload(400, f"'{name}' is empty: send the bytes of a JPEG or PNG image")
    try:
        with Image.open(io.BytesIO(data)) as header:
            kind, (width, height) = header.format, header.size
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise BadUpload(400, f"'{name}' is not an image this server reads (JPEG, PNG, BMP, TIFF or WebP)") from None
    if kind not in FORMATS:
        raise BadUpload(415, f"'{name}' is a {kind} image: send JPEG, PNG, BMP, TIFF or WebP")
    if width * height > max_pixels:
        raise BadUpload(413, f"'{name}' is {width}x{height} pixels, over this server's limit of {max_pixels}: "
                             "send a smaller image")
    ending = ENDINGS.get(kind)
    if ending is not None and not data.rstrip(b"\x00").endswith(ending):
        raise BadUpload(400, f"'{name}' is a truncated {kind} image: send the whole file")
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None or bgr.shape[:2] != (height, width):
        raise BadUpload(400, f"'{name}' is a broken or truncated {kind} image")
    return Upload(name, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
