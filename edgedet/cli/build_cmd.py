"""``edgedet build``: ONNX -> TensorRT engine + manifest."""

from __future__ import annotations

from pathlib import Path

import typer

from edgedet.cli.console import console, emit_json
from edgedet.cli.options import JsonOut


def build(
    model: Path = typer.Argument(..., help="An edgedet .onnx file (not one with inlined functions)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Engine path (default: MODEL with .engine)."),
    fp16: bool = typer.Option(False, "--fp16/--no-fp16", metavar="", help="Allow FP16 kernels (TensorRT 10.x)."),
    int8: bool = typer.Option(False, "--int8/--no-int8", metavar="",
                              help="INT8 with entropy calibration (needs --calib or --calib-cache)."),
    calib: Path | None = typer.Option(None, help="Folder of calibration images."),
    calib_cache: Path | None = typer.Option(None, help="Calibration cache to reuse / write."),
    batch: str | None = typer.Option(None, "--batch-range", metavar="MIN:OPT:MAX",
                                     help="Batch profile for dynamic-batch files, e.g. 1:4:8."),
    workspace: float = typer.Option(4.0, min=0.0625, help="Builder workspace in GiB."),
    timing_cache: Path | None = typer.Option(None, help="Timing cache file to reuse / update."),
    json_out: JsonOut = False,
) -> None:
    """Build a TensorRT engine with edgedet's MultiLevelRoIAlign plugin; writes MODEL.engine + .engine.json.

    Examples:
      edgedet build model.onnx --fp16
      edgedet build model.onnx --int8 --calib data/val/images --calib-cache model.calib --batch-range 1:4:8
    """
    from dataclasses import asdict

    from edgedet.export.tensorrt_build import BuildOptions, build_engine, parse_batch_range

    try:
        batch_range = parse_batch_range(batch)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--batch-range'") from None
    opts = BuildOptions(fp16=fp16, int8=int8, calib=str(calib) if calib else None,
                        calib_cache=str(calib_cache) if calib_cache else None, batch=batch_range,
                        workspace_gib=workspace, timing_cache=str(timing_cache) if timing_cache else None)
    out = out or model.with_suffix(".engine")
    with console.status(f"building {out.name}"):
        manifest = build_engine(model, out, opts)
    console.print(f"wrote {out} ({manifest.precision}, TensorRT {manifest.tensorrt_version}, {manifest.gpu_name})")
    if json_out:
        emit_json(asdict(manifest))
