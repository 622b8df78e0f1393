"""A frame as it travels the pipeline: pixels plus where and when it was captured."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np


def now() -> float:
    """Monotonic seconds; every timestamp in the runtime uses this clock."""
    return time.monotonic()


@dataclass
class Frame:
    index: int  # position in the source (frames dropped by a live source leave gaps)
    image: np.ndarray  # RGB uint8 HxWx3
    captured: float  # now() when the camera took it, where the stream says (else when it reached us)
    source_time_s: float | None = None  # media timestamp for files, None for live sources
    arrived: float | None = None  # now() when it reached us (live sources; ``captured`` may be earlier)
