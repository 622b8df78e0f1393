"""The accuracy gate of reduced precision: a faster file or precision is only worth shipping if it
still finds what fp32 finds.

With a labelled set the gate is mAP@.5 (pycocotools, through the detector contract) of both, and the
change; without one it is *detection agreement* on the given images: the share of fp32's confident
detections (score >= 0.5) that the candidate also reports (same label, IoU >= 0.5, any score). The
low-score tail is left out on purpose: detections near the score threshold come and go under any
perturbation and say nothing about what a user sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from edgedet.data.coco import CocoData
from edgedet.evaluation.coco_eval import evaluate
from edgedet.runtime.agreement import agreement
from edgedet.runtime.detector import Detector


@dataclass(frozen=True)
class GateResult:
    """``metric`` is ``map50`` (``limit``: largest allowed drop) or ``agreement`` (``limit``: smallest
    allowed share)."""

    metric: str
    reference: float
    candidate: float
    limit: float
    images: int
    confident_detections: int = 0

    @property
    def change(self) -> float:
        return self.candidate - self.reference

    @property
    def passed(self) -> bool:
        if self.metric == "map50":
            return -self.change <= self.limit + 1e-9
        return self.candidate >= self.limit

    def as_dict(self) -> dict:
        return {**asdict(self), "change": round(self.change, 6), "passed": self.passed}

    def describe(self) -> str:
        if self.metric == "map50":
            return (f"mAP@.5 {self.candidate:.4f} vs fp32 {self.reference:.4f} ({self.change:+.4f}; allowed drop "
                    f"{self.limit:.4f}) on {self.images} labelled images")
        return (f"agreement {100 * self.candidate:.1f} % of fp32's {self.confident_detections} confident detections "
                f"(at least {100 * self.limit:.0f} % wanted) on {self.images} images")


def map_gate(candidate: Detector, reference: Detector, data: CocoData, max_drop: float,
             batch_size: int = 4) -> GateResult:
    ref = evaluate(reference, data, batch_size)["map50"]
    cand = evaluate(candidate, data, batch_size)["map50"]
    return GateResult("map50", float(ref), float(cand), max_drop, len(data.images))


def agreement_gate(candidate: Detector, reference: Detector, frames: Sequence[np.ndarray],
                   min_agreement: float) -> GateResult:
    share, total = agreement(candidate, reference, frames)
    return GateResult("agreement", 1.0, share, min_agreement, len(frames), total)
