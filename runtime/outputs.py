"""From the contract's padded outputs to per-frame ``Detections`` in frame pixels (every backend)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from runtime.detections import Detections
from runtime.letterbox import unletterbox_boxes


def detect_in_batches(detector, frames: Sequence[np.ndarray], step: int, fixed_batch: int | None,
                      fill: int) -> list[Detections]:
    """Run a staged detector (preprocess/infer/postprocess) over any number of frames in chunks of
    ``step``; a fixed-batch model gets its last chunk padded with blank frames, whose results are dropped."""
    results: list[Detections] = []
    for start in range(0, len(frames), step):
        chunk = list(frames[start:start + step])
        real = len(chunk)
        if fixed_batch and real < fixed_batch:
            chunk += [np.full_like(chunk[0], fill)] * (fixed_batch - real)
        batch, scales = detector.preprocess(chunk)
        outputs = detector.infer(batch)
        results.extend(detector.postprocess(outputs, scales, [f.shape[:2] for f in chunk])[:real])
    return results


def detections_from_outputs(outputs: Mapping[str, np.ndarray], scales: Sequence[float],
                            frames_hw: Sequence[tuple[int, int]], class_names: Sequence[str]) -> list[Detections]:
    counts = np.asarray(outputs["num_detections"]).reshape(len(scales), -1)[:, 0]
    results = []
    for i, (scale, hw) in enumerate(zip(scales, frames_hw)):
        n = int(counts[i])
        boxes = unletterbox_boxes(outputs["boxes"][i, :n], scale, hw)
        results.append(Detections(boxes, outputs["scores"][i, :n], outputs["labels"][i, :n], class_names))
    return results
