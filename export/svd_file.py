"""Factor, export, gate, write: the one flow behind ``edgedet export --svd-rank``.

The reference is the unfactored eager model (our export is exact against it, so it stands for the
fp32 file without a second export); the candidate is the factored file itself, in ONNX Runtime. The
gate is the one ``quantize`` uses: mAP@.5 on a labelled split, else detection agreement on the given
images. A file that fails it is removed unless forced, so no unjudged approximation is left behind.

``auto`` picks the ranks on the gate's own images with the eager model: per layer, largest first,
the smallest power-of-two rank that still passes (a binary search, the layers chosen before kept
factored), then the file is exported once and judged like any other.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import onnx
from torch import nn

from edgedet.data.coco import CocoData
from edgedet.eager_detector import TorchDetector
from edgedet.evaluation.coco_eval import evaluate
from edgedet.export.accuracy_gate import GateResult, agreement_gate
from edgedet.export.box_head_svd import SvdFacts, factor_box_head, head_layers, max_useful_rank
from edgedet.export.int8_file import GateLimits
from edgedet.export.onnx_export import ExportOptions, build_proto
from edgedet.runtime.atomic import PendingFile
from edgedet.runtime.detector import Detector
from edgedet.runtime.errors import EdgedetError
from edgedet.runtime.model_metadata import ModelMetadata
from edgedet.runtime.onnx_detector import OnnxDetector

AUTO = "auto"
SMALLEST_AUTO_RANK = 16


@dataclass(frozen=True)
class GateSet:
    """What the gate judges on: a labelled split (mAP@.5) or plain frames (agreement)."""

    labelled: CocoData | None = None
    frames: Sequence[np.ndarray] = ()

    def __post_init__(self) -> None:
        if self.labelled is None and not self.frames:
            raise EdgedetError("the SVD accuracy gate has no images: give a labelled set or images")


@dataclass
class SvdOutcome:
    path: Path
    facts: SvdFacts
    gate: GateResult


class _Judge:
    """The gate against one reference, whose own figure is computed once."""

    def __init__(self, reference: Detector, gate_set: GateSet, limits: GateLimits) -> None:
        self.reference, self.set, self.limits = reference, gate_set, limits
        self.reference_map = (float(evaluate(reference, gate_set.labelled, 4)["map50"])
                              if gate_set.labelled is not None else None)

    def __call__(self, candidate: Detector) -> GateResult:
        if self.set.labelled is not None:
            cand = float(evaluate(candidate, self.set.labelled, 4)["map50"])
            return GateResult("map50", self.reference_map, cand, self.limits.max_map_drop,
                              len(self.set.labelled.images))
        result = agreement_gate(candidate, self.reference, list(self.set.frames), self.limits.min_agreement)
        if not result.confident_detections:
            raise EdgedetError(f"the unfactored model finds no confident detection on the {len(self.set.frames)} "
                               "gate images, so agreement would judge nothing: give a labelled set, or images "
                               "like the deployment's")
        return result


def _eager(model: nn.Module, meta: ModelMetadata) -> TorchDetector:
    return TorchDetector(model, meta.class_names, meta.canvas, pose=meta.pose,
                         architecture=meta.architecture)


def auto_ranks(model: nn.Module, meta: ModelMetadata, judge: _Judge,
               say: Callable[[str], None] = lambda _: None) -> dict[str, int]:
    """The smallest power-of-two rank per layer (largest layer first) that passes ``judge`` in eager."""
    layers = sorted(head_layers(model).items(), key=lambda kv: -kv[1].weight.numel())
    chosen: dict[str, int] = {}
    for name, layer in layers:
        candidates = []
        rank = SMALLEST_AUTO_RANK
        while rank <= max_useful_rank(layer):
            candidates.append(rank)
            rank *= 2
        lo, hi, best = 0, len(candidates) - 1, None
        while lo <= hi:  # passing is monotone enough in rank for a binary search; the file is judged anyway
            mid = (lo + hi) // 2
            trial = copy.deepcopy(model)
            factor_box_head(trial, {**chosen, name: candidates[mid]})
            result = judge(_eager(trial, meta))
            say(f"auto rank: {name} at {candidates[mid]}: {result.describe()}")
            if result.passed:
                best, hi = candidates[mid], mid - 1
            else:
                lo = mid + 1
        if best is not None:
            chosen[name] = best
    if not chosen:
        raise EdgedetError("no rank of the box head's layers passes the accuracy gate: export without SVD, or "
                           "allow a larger drop")
    return chosen


def write_factored_model(model: nn.Module, meta: ModelMetadata, out: str | Path, opts: ExportOptions,
                         ranks: dict[str, int] | str, gate_set: GateSet, limits: GateLimits = GateLimits(),
                         say: Callable[[str], None] = lambda _: None) -> SvdOutcome:
    """Factor ``model``'s box head in place (so a parity check after this compares the same function),
    export it, judge the file against the unfactored model and write it only if it passes (or forced)."""
    reference = _eager(copy.deepcopy(model), meta)
    judge = _Judge(reference, gate_set, limits)
    if ranks == AUTO:
        ranks = auto_ranks(model, meta, judge, say)
    facts = factor_box_head(model, ranks)
    say(f"exporting with {facts.describe()}")
    extra = {**meta.extra, "svd": facts.as_dict()}
    proto = build_proto(model, replace(meta, extra=extra), opts)
    pending = PendingFile(out)
    try:
        onnx.save(proto, str(pending.tmp))
        say("accuracy gate: factored file vs the unfactored model")
        with OnnxDetector(pending.tmp, spin=False) as candidate:
            gate = judge(candidate)
        if not gate.passed and not limits.force:
            raise EdgedetError(f"the factored box head failed the accuracy gate: {gate.describe()}; nothing "
                               "written. Keep a larger rank, or let auto choose one")
        written = ModelMetadata.from_props({p.key: p.value for p in proto.metadata_props})
        judged = replace(written, extra={**written.extra, "svd": {**facts.as_dict(), "gate": gate.as_dict()}})
        onnx.helper.set_model_props(proto, judged.to_props())
        onnx.save(proto, str(pending.tmp))
        path = pending.commit()
    finally:
        pending.discard()
    return SvdOutcome(path, facts, gate)
