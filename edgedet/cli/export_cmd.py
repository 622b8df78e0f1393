"""``edgedet export`` and ``edgedet check``."""

from __future__ import annotations

from pathlib import Path

import typer

from edgedet.cli.console import console, emit_json, parse_canvas


def _load(weights: Path, arch: str | None, num_classes: int | None, canvas):
    from edgedet.checkpoints import model_from_weights, sha256_file

    model, meta = model_from_weights(weights, arch, num_classes, canvas)
    return model, meta, sha256_file(weights)


def export(
    weights: Path = typer.Argument(..., help="edgedet checkpoint (.pt) or a plain torchvision state dict."),
    out: Path = typer.Option(None, "--out", "-o", help="Output .onnx (default: WEIGHTS with .onnx)."),
    arch: str = typer.Option(None, help="Architecture, for a plain state dict."),
    num_classes: int = typer.Option(None, help="Classes including background, for a plain state dict."),
    imgsz: str = typer.Option(None, help="Canvas H or H,W, multiple of 32 (default: the checkpoint's)."),
    batch: int = typer.Option(1, help="Fixed batch size."),
    dynamic_batch: bool = typer.Option(False, "--dynamic-batch", help="Dynamic batch dimension instead."),
    opset: int = typer.Option(18, help="ONNX opset (>= 18)."),
    score_thresh: float = typer.Option(None, help="Box score threshold (default: the model's, 0.05)."),
    nms_thresh: float = typer.Option(None, help="Per-class NMS IoU threshold (default: the model's)."),
    max_dets: int = typer.Option(None, help="K, detections per image (default: the model's, 100)."),
    roi_mode: str = typer.Option("align", help="align (RoI Align) or pool (RoI Pool)."),
    inline_functions: bool = typer.Option(False, "--inline-functions",
                                          help="Flatten the RoI Align function for tools without function support."),
    check: bool = typer.Option(False, "--check", help="Run the parity check right after export."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Export to one static ONNX file (uint8 NHWC in, padded detections out, metadata inside).

    Examples:
      edgedet export runs/shapes/best.pt -o shapes.onnx --check
      edgedet export coco.pth --arch fasterrcnn_resnet50_fpn --num-classes 91 --imgsz 800 --dynamic-batch
    """
    import time

    from export.onnx_export import ExportOptions, export_onnx
    from runtime.errors import EdgedetError
    from runtime.model_metadata import ModelMetadata

    if batch < 1:
        raise EdgedetError(f"--batch must be at least 1, got {batch}")
    if roi_mode not in ("align", "pool"):
        raise EdgedetError(f"--roi-mode must be align or pool, got '{roi_mode}'")
    canvas = parse_canvas(imgsz)
    model, meta, sha = _load(weights, arch, num_classes, canvas)
    canvas = tuple(meta["canvas"])
    out = out or weights.with_suffix(".onnx")
    model_meta = ModelMetadata(architecture=meta["arch"], class_names=tuple(meta["class_names"]), canvas=canvas,
                               source_sha256=sha)
    opts = ExportOptions(canvas=canvas, batch=None if dynamic_batch else batch, opset=opset,
                         score_thresh=score_thresh, nms_thresh=nms_thresh, max_detections=max_dets,
                         inline_functions=inline_functions, roi_mode=roi_mode)
    t0 = time.perf_counter()
    with console.status(f"exporting {meta['arch']} at {canvas[0]}x{canvas[1]}"):
        path = export_onnx(model, model_meta, out, opts)
    seconds = time.perf_counter() - t0
    console.print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) in {seconds:.1f}s")
    result = {"onnx": str(path), "seconds": seconds}
    if check:
        report = _run_check(path, model, meta["class_names"], None)
        result["parity"] = report.summary()
    if json_out:
        emit_json(result)
    if check and not result["parity"]["ok"]:
        raise typer.Exit(1)


def _run_check(onnx_path: Path, model, class_names, images: Path | None, batch: int = 4, photos: bool = True):
    from rich.table import Table

    from export.check import check_parity, parity_images
    from runtime.onnx_detector import OnnxDetector

    canvas = OnnxDetector(onnx_path).canvas
    with console.status("checking parity against the eager model"):
        report = check_parity(onnx_path, model, class_names, parity_images(canvas, images, photos=photos), batch)
    table = Table(title=f"parity: {onnx_path.name} vs eager torchvision")
    for col in ("image", "eager", "onnx", "matched", "missing", "extra", "ties@K", "min IoU", "max |Δscore|", "ok"):
        table.add_column(col, justify="right")
    for r in report.images:
        table.add_row(r.name, str(r.reference), str(r.candidate), str(r.matched), str(r.missing), str(r.extra),
                      str(r.ties_at_cutoff), f"{r.min_iou:.5f}", f"{r.max_score_diff:.2e}",
                      "[green]yes" if r.ok else "[red]NO")
    console.print(table)
    if report.batch_consistent is not None:
        console.print(f"batch-4 vs batch-1: max difference {report.batch_max_diff:.2e} "
                      f"({'consistent' if report.batch_consistent else 'INCONSISTENT'})")
    console.print("[green]parity OK" if report.ok else "[red]parity FAILED")
    return report


def check(
    model: Path = typer.Argument(..., help="The exported .onnx file."),
    weights: Path = typer.Option(..., "--weights", "-w", help="The checkpoint / state dict it was exported from."),
    arch: str = typer.Option(None, help="Architecture, for a plain state dict."),
    num_classes: int = typer.Option(None, help="Classes including background, for a plain state dict."),
    images: Path = typer.Option(None, help="Extra images (file, folder, glob) besides synthetic and sample photos."),
    batch: int = typer.Option(4, help="Batch size for the batch-consistency check (dynamic-batch files)."),
    json_out: bool = typer.Option(False, "--json", help="Print the parity report as JSON."),
) -> None:
    """Parity of an exported file with the eager torchvision model; exits 1 past tolerance.

    Every eager detection must be matched (same label, IoU >= 0.99, |Δscore| <= 1e-3) with no
    extras, except ties at the K cut-off, which are reported as such.

    Example: edgedet check shapes.onnx --weights runs/shapes/best.pt --images photos/
    """
    from runtime.onnx_detector import OnnxDetector

    canvas = OnnxDetector(model).canvas
    torch_model, meta, _ = _load(weights, arch, num_classes, canvas)
    report = _run_check(model, torch_model, meta["class_names"], images, batch)
    if json_out:
        emit_json(report.summary())
    if not report.ok:
        raise typer.Exit(1)
