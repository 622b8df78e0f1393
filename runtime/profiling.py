"""Latency profiles of a Detector: stages timed separately, and ONNX Runtime's per-operator
profile grouped into backbone / RPN / RoI Align / RoI head / NMS.

The grouping needs the graph's structure, which only the ``onnx`` package can read; the runtime
never imports it, so the caller passes the node -> stage map (``edgedet.export.stage_map``
builds it where onnx is installed; without it operators are grouped by their names alone)."""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from edgedet.runtime.atomic import atomic_path
from edgedet.runtime.detector import Detector
from edgedet.runtime.errors import EdgedetError
from edgedet.runtime.frames import now
from edgedet.runtime.stats import summarize


def profile_stages(detector: Detector, frames: Sequence[np.ndarray], batch: int, iters: int, warmup: int) -> dict:
    """Pre-process, inference and post-process latency for one batch of ``batch`` frames."""
    return profile_side_by_side({"model": detector}, frames, batch, iters, warmup, block=iters)["model"]


def profile_side_by_side(detectors: Mapping[str, Detector], frames: Sequence[np.ndarray], batch: int, iters: int,
                         warmup: int, block: int = 4) -> dict[str, dict]:
    """``profile_stages`` of several detectors interleaved, so machine noise — a neighbour's load, the
    CPU's clock — hits every configuration alike and their ratio means something. They take turns in
    blocks: each turn runs one uncounted call, then ``block`` counted ones. The uncounted call absorbs
    the switch: measured here, ONNX Runtime run straight after OpenVINO (whose idle workers still hold
    the cores for a moment) is 1.6x slower than in a block of its own. ``warmup`` uncounted calls each
    come first. A fixed-batch file gets its own batch."""
    times: dict[str, dict[str, list[float]]] = {name: defaultdict(list) for name in detectors}

    def one_call(name: str, detector: Detector, counted: bool) -> None:
        b = detector.fixed_batch or batch
        chunk = [frames[j % len(frames)] for j in range(b)]
        t0 = now()
        data, scales = detector.preprocess(chunk)
        t1 = now()
        outputs = detector.infer(data)
        t2 = now()
        detector.postprocess(outputs, scales, [f.shape[:2] for f in chunk])
        t3 = now()
        if counted:
            for key, value in (("preprocess", t1 - t0), ("inference", t2 - t1), ("postprocess", t3 - t2),
                               ("total", t3 - t0)):
                times[name][key].append(value * 1e3)

    for name, detector in detectors.items():
        for _ in range(warmup):
            one_call(name, detector, False)
    block = max(1, block)
    for _ in range(-(-iters // block)):
        for name, detector in detectors.items():
            one_call(name, detector, False)
            for _ in range(min(block, iters - len(times[name]["total"]))):
                one_call(name, detector, True)
    results = {}
    for name, detector in detectors.items():
        t = times[name]
        result = {f"{k}_ms": summarize(v) for k, v in t.items()}
        result["batch"] = detector.fixed_batch or batch
        result["iters"] = iters
        result["throughput_fps"] = round(result["batch"] * 1e3 / float(np.mean(t["total"])), 3)
        result["overhead_pct_of_inference"] = round(
            100 * (np.mean(t["preprocess"]) + np.mean(t["postprocess"])) / np.mean(t["inference"]), 2)
        result["_samples_total_ms"] = t["total"]
        results[name] = result
    return results


ORT_SUFFIXES = ("_nchwc", "_token", "_output", "_fused", "_reorder")  # names ONNX Runtime derives from a value


def _stage_for(name: str, stages: dict[str, str], op: str = "") -> str:
    name = name.removeprefix("fused ")  # ONNX Runtime's fused node keeps the first node's name
    if name in stages:
        return stages[name]
    if op in ("ReorderInput", "ReorderOutput"):  # layout conversions ONNX Runtime inserts (NCHWc)
        return "layout"
    for suffix in ORT_SUFFIXES:  # relu_3_nchwc, conv2d_11_nchwc_token_4, ...: the value it was named after
        base = name.split(suffix)[0]
        if base != name and base in stages:
            return stages[base]
    if "MultiLevelRoIAlign" in name or "inlfunc" in name:
        return "roi_align"
    if op == "NonMaxSuppression":
        return "nms"
    for node, stage in stages.items():
        if name.startswith(node + "_") or name.startswith(node):
            return stage
    return "other"


def operator_profile(model_path: str | Path, frames: Sequence[np.ndarray], batch: int, iters: int,
                     threads: int | None = None, provider: str = "cpu", top: int = 12,
                     stages: dict[str, str] | None = None) -> dict:
    """Run with ONNX Runtime's profiler; total time per operator type and per stage, per run.

    ``stages`` maps graph node names to stages (see the module docstring)."""
    from edgedet.runtime.onnx_detector import OnnxDetector

    with tempfile.TemporaryDirectory() as tmp:
        with OnnxDetector(model_path, provider=provider, threads=threads, profile=str(Path(tmp) / "ort")) as det:
            data, _ = det.preprocess([frames[i % len(frames)] for i in range(det.fixed_batch or batch)])
            for _ in range(iters):
                det.infer(data)
            events = json.loads(det.end_profiling().read_text())
    stages = stages or {}
    by_op: dict[str, float] = defaultdict(float)
    by_stage: dict[str, float] = defaultdict(float)
    for ev in events:
        if ev.get("cat") != "Node" or not ev.get("name", "").endswith("_kernel_time"):
            continue
        ms = ev["dur"] / 1e3 / iters
        by_op[ev.get("args", {}).get("op_name", "?")] += ms
        by_stage[_stage_for(ev["name"][: -len("_kernel_time")], stages, ev.get("args", {}).get("op_name", ""))] += ms
    total = sum(by_op.values()) or 1.0
    ops = sorted(by_op.items(), key=lambda kv: -kv[1])[:top]
    return {
        "operators": [{"op": k, "ms": round(v, 3), "pct": round(100 * v / total, 1)} for k, v in ops],
        "stages": {k: {"ms": round(v, 3), "pct": round(100 * v / total, 1)}
                   for k, v in sorted(by_stage.items(), key=lambda kv: -kv[1])},
        "kernel_ms_per_run": round(total, 3),
    }


def histogram_png(series: dict[str, Sequence[float]], path: str | Path, bins: int = 40) -> None:
    """Latency histograms (one colour per series) drawn with OpenCV: no plotting dependency on the edge."""
    import cv2

    from edgedet.runtime.annotate import color_for

    w, h, pad = 900, 420, 50
    img = np.full((h, w, 3), 255, np.uint8)
    values = np.concatenate([np.asarray(v, float) for v in series.values()])
    lo, hi = float(values.min()), float(values.max()) or 1.0
    if hi - lo < 1e-9:
        hi = lo + 1.0
    edges = np.linspace(lo, hi, bins + 1)
    counts = {k: np.histogram(v, edges)[0] for k, v in series.items()}
    peak = max(int(c.max()) for c in counts.values()) or 1
    cv2.line(img, (pad, h - pad), (w - pad, h - pad), (0, 0, 0), 1)
    cv2.line(img, (pad, pad), (pad, h - pad), (0, 0, 0), 1)
    bw = (w - 2 * pad) / bins
    for s, (name, c) in enumerate(counts.items()):
        color = color_for(s + 1)
        for i, n in enumerate(c):
            x = int(pad + i * bw + s * bw / len(counts))
            y = int(h - pad - (h - 2 * pad) * n / peak)
            cv2.rectangle(img, (x, y), (int(x + bw / len(counts)), h - pad), color, -1)
        cv2.putText(img, name, (w - pad - 260, pad + 18 * s), cv2.FONT_HERSHEY_SIMPLEX, 0.45, color, 1, cv2.LINE_AA)
    for frac in (0, 0.5, 1):
        x = int(pad + frac * (w - 2 * pad))
        cv2.putText(img, f"{lo + frac * (hi - lo):.1f} ms", (x - 25, h - pad + 20), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                    (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, "latency per batch (ms)", (w // 2 - 90, h - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
    cv2.putText(img, f"count (max {peak})", (5, pad - 15), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), cv2.cvtColor(img, cv2.COLOR_RGB2BGR)):
            raise EdgedetError(f"cannot write plot '{path}': use a .png file name in a writable folder")
