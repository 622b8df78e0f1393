"""Quantize, gate, write: the one flow behind ``edgedet quantize`` and the demo's INT8 step.

The INT8 file is written beside its destination, opened by the backend that will run it, judged
against fp32 by the accuracy gate, timed against fp32 side by side, and only then renamed into
place with the gate's verdict and the timing in its metadata; a file that fails the gate is
removed (unless forced), so no half-checked INT8 model is ever left behind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import onnx

from edgedet.data.coco import CocoData
from edgedet.export.accuracy_gate import GateResult, agreement_gate, map_gate
from edgedet.export.calibration import calibration_batches
from edgedet.export.quantize import QuantizeFacts, QuantizeRecipe, quantize_model, read_fp32_model, with_int8_metadata
from edgedet.runtime.atomic import PendingFile
from edgedet.runtime.errors import EdgedetError
from edgedet.runtime.images import list_images, read_rgb
from edgedet.runtime.loader import Backend, load_detector
from edgedet.runtime.onnx_detector import OnnxDetector
from edgedet.runtime.profiling import profile_side_by_side

AGREEMENT_IMAGES = 32


@dataclass(frozen=True)
class GateLimits:
    max_map_drop: float = 0.01
    min_agreement: float = 0.95
    force: bool = False


@dataclass
class Int8Outcome:
    path: Path
    facts: QuantizeFacts
    gate: GateResult
    latency_p50_ms: dict  # fp32 (onnxruntime), int8 (the chosen backend), speedup


def write_int8_model(model: Path, calib: str | Path, output: Path, recipe: QuantizeRecipe = QuantizeRecipe(),
                     subset: int = 128, labelled: CocoData | None = None, limits: GateLimits = GateLimits(),
                     backend: Backend = Backend.openvino, threads: int | None = None, iters: int = 20,
                     say: Callable[[str], None] = lambda _: None) -> Int8Outcome:
    if output.resolve() == Path(model).resolve():
        raise EdgedetError(f"the output '{output}' is the input file: write the int8 model beside it")
    _, meta = read_fp32_model(model)
    say(f"reading calibration images from {calib}")
    batches = list(calibration_batches(calib, meta.canvas, meta.batch or 1, meta.letterbox_fill, subset))
    say(f"quantizing {Path(model).name} ({', '.join(recipe.ops)}) on {sum(len(b) for b in batches)} images")
    quantized, facts = quantize_model(model, batches, recipe)
    pending = PendingFile(output)
    try:
        onnx.save(with_int8_metadata(quantized, meta, facts), str(pending.tmp))
        with OnnxDetector(model, threads=threads, spin=False) as fp32, \
                load_detector(pending.tmp, backend=backend, precision="int8", threads=threads) as int8:
            say("accuracy gate: int8 vs fp32")
            if labelled is not None:
                gate = map_gate(int8, fp32, labelled, limits.max_map_drop)
            else:
                frames = [read_rgb(p) for p in list_images(calib)[:AGREEMENT_IMAGES]]
                gate = agreement_gate(int8, fp32, frames, limits.min_agreement)
            timing: dict = {}
            if iters:
                say("timing fp32 (onnxruntime) vs int8, interleaved")
                runs = profile_side_by_side({"fp32": fp32, "int8": int8}, [read_rgb(list_images(calib)[0])], 1,
                                            iters, warmup=3)
                timing = {k: runs[k]["inference_ms"]["p50"] for k in runs}
                timing["speedup"] = round(timing["fp32"] / timing["int8"], 3)
            backend_name = int8.describe().backend
        facts.accuracy = {**gate.as_dict(), "latency_p50_ms": timing, "int8_backend": backend_name}
        if not gate.passed and not limits.force:
            raise EdgedetError(f"int8 failed the accuracy gate: {gate.describe()}; nothing written. Keep more "
                               "of the graph float (the rpn stage, or more excluded nodes), calibrate on more "
                               "images, or force the write")
        onnx.save(with_int8_metadata(quantized, meta, facts), str(pending.tmp))
        pending.commit()
    finally:
        pending.discard()
    return Int8Outcome(output, facts, gate, timing)
