"""``edgedet quantize``: post-training INT8 with an accuracy gate that refuses to write a bad file."""

from __future__ import annotations

from dataclasses import asdict
from enum import Enum
from pathlib import Path

import typer

from edgedet.cli.console import console, emit_json
from edgedet.cli.options import JsonOut, Threads
from edgedet.runtime.loader import Backend


class Stage(str, Enum):
    backbone = "backbone"
    rpn = "rpn"
    roi_head = "roi_head"


class Preset(str, Enum):
    performance = "performance"
    mixed = "mixed"


def default_output(model: Path) -> Path:
    return model.with_name(f"{model.stem}.int8{model.suffix}")


def quantize(
    model: Path = typer.Argument(..., help="The fp32 .onnx file 'edgedet export' wrote."),
    calib: str = typer.Option(..., "--calib", help="Calibration images (folder, file or glob), like the deployment's."),
    output: Path | None = typer.Option(None, "--out", "-o", help="Where to write (default MODEL.int8.onnx)."),
    ops: list[str] | None = typer.Option(None, "--ops", help="Op types quantized; repeat (default: --ops Conv "
                                         "--ops Gemm); 'all': NNCF's choice."),
    keep_float: list[Stage] = typer.Option([], "--keep-float", help="Keep a whole stage float; repeat."),
    exclude: list[str] = typer.Option([], "--exclude", help="Regex of node names kept float; repeat."),
    preset: Preset = typer.Option(Preset.performance, help="performance: symmetric (S8S8); mixed: U8S8."),
    subset: int = typer.Option(128, min=1, help="Calibration images used at most."),
    data: Path | None = typer.Option(None, "--data", "-d", help="Labelled COCO set: gate on mAP@.5."),
    split: str = typer.Option("val", help="Split of --data to gate on."),
    max_map_drop: float = typer.Option(0.01, min=0.0, help="Largest mAP@.5 drop allowed (with --data)."),
    min_agreement: float = typer.Option(0.95, min=0.0, max=1.0,
                                        help="Smallest share of fp32's confident detections kept (no --data)."),
    force: bool = typer.Option(False, "--force/--no-force", metavar="",
                               help="Write the file even if it fails the gate."),
    backend: Backend = typer.Option(Backend.openvino, "--backend",
                                    help="Backend that runs the int8 file in the gate and timing."),
    threads: Threads = None,
    iters: int = typer.Option(20, min=0, help="Timed runs of fp32 vs int8 (0: skip timing)."),
    json_out: JsonOut = False,
) -> None:
    """Post-training INT8 (NNCF) of an exported model, gated against fp32.

    The default recipe quantizes the weight layers (Conv, Gemm) and keeps
    the rest float (RoI Align, box decoding, NMS): fast, and within 0.01
    mAP@.5 on trained models; the whole graph (--ops all) is not. The gate
    is mAP@.5 on --data, else detection agreement on the calibration
    images; past the limit nothing is written (exit 2) unless --force.

    Examples:
      edgedet quantize model.onnx --calib shapes/train/images --data shapes
      edgedet quantize model.onnx --calib frames/ --keep-float rpn
      edgedet run model.int8.onnx --backend openvino --source cam.mp4
    """
    from edgedet.data.coco import load_split
    from edgedet.export.int8_file import GateLimits, write_int8_model
    from edgedet.export.quantize import DEFAULT_OPS, QuantizeRecipe
    from edgedet.runtime.model_files import require_model_file

    require_model_file(model)
    recipe = QuantizeRecipe(tuple(ops or DEFAULT_OPS), tuple(s.value for s in keep_float), tuple(exclude), preset.value)
    labelled = load_split(data, split) if data else None
    with console.status("quantizing") as status:
        outcome = write_int8_model(model, calib, output or default_output(model), recipe, subset, labelled,
                                   GateLimits(max_map_drop, min_agreement, force), backend, threads, iters,
                                   say=status.update)
    gate, timing, facts = outcome.gate, outcome.latency_p50_ms, outcome.facts
    verdict = "[green]passed[/]" if gate.passed else "[red]FAILED (written because of --force)[/]"
    console.print(f"accuracy gate {verdict}: {gate.describe()}")
    if timing:
        console.print(f"inference p50: fp32 onnxruntime {timing['fp32']:.1f} ms, int8 {backend.value} "
                      f"{timing['int8']:.1f} ms ({timing['speedup']:.2f}x)")
    int8_ops = ", ".join(f"{k} x{v}" for k, v in facts.quantized_nodes.items())
    console.print(f"wrote {outcome.path} (int8: {int8_ops}; {facts.calibration_images} calibration images)")
    if json_out:
        emit_json({"output": str(outcome.path), "quantization": asdict(facts)})
