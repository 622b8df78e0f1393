"""``edgedet export`` and ``edgedet check``."""

from __future__ import annotations

from pathlib import Path

import typer

from edgedet.cli.console import console, emit_json
from edgedet.cli.options import Canvas, JsonOut, RoIMode, parse_canvas

Arch = typer.Option(None, help="Architecture, for a plain state dict (see 'edgedet info --archs').")
NumClasses = typer.Option(None, min=2, help="Classes including background, for a plain state dict.")


def _load(weights: Path, arch: str | None, num_classes: int | None, canvas: tuple[int, int] | None,
          class_names: Path | None = None):
    from edgedet.checkpoints import PlainStateDictError, model_from_weights
    from edgedet.data.class_names_file import read_class_names

    names = read_class_names(class_names) if class_names is not None else None
    try:
        return model_from_weights(weights, arch, num_classes, canvas, list(names) if names else None)
    except PlainStateDictError:
        raise typer.BadParameter(f"'{weights}' is a plain state dict: pass --arch and --num-classes "
                                 "(background included) or --class-names", param_hint="WEIGHTS") from None


def export(
    weights: Path = typer.Argument(..., help="edgedet checkpoint (.pt) or a plain torchvision state dict."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Output .onnx (default: WEIGHTS with .onnx)."),
    arch: str | None = Arch,
    num_classes: int | None = NumClasses,
    class_names: Path | None = typer.Option(None, "--class-names", metavar="FILE", help="The classes' names: "
                                            "one per line (background first or left out) or a COCO annotation "
                                            "file; for a plain state dict they also give --num-classes."),
    imgsz: Canvas = None,
    batch: int = typer.Option(1, min=1, help="Fixed batch size."),
    dynamic_batch: bool = typer.Option(False, "--dynamic-batch/--no-dynamic-batch", metavar="",
                                       help="Dynamic batch dimension instead."),
    opset: int = typer.Option(18, min=18, help="ONNX opset (the exporter's floor is 18)."),
    score_thresh: float | None = typer.Option(None, "--conf", min=0.0, max=1.0,
                                                 help="Box score threshold (default: the model's, 0.05)."),
    nms_thresh: float | None = typer.Option(None, min=0.0, max=1.0,
                                               help="Per-class NMS IoU threshold (default: the model's)."),
    max_dets: int | None = typer.Option(None, min=1, help="K, detections per image (default: the model's, 100)."),
    proposals: int | None = typer.Option(None, min=1, help="RPN proposals kept per image (post-NMS top-n; the "
                                         "pre-NMS top-n scales with it): fewer is faster on CPUs, see "
                                         "bench/budget_sweep.py for the mAP cost (default: the model's)."),
    roi_mode: RoIMode = typer.Option(RoIMode.align, help="RoI Align or RoI Pool."),
    inline_functions: bool = typer.Option(False, "--inline-functions/--no-inline-functions", metavar="",
                                          help="Flatten the RoI Align function for tools without function support."),
    check: bool = typer.Option(False, "--check/--no-check", metavar="",
                               help="Run the parity check right after export."),
    svd_rank: str | None = typer.Option(None, "--svd-rank", metavar="RANKS", help="Truncated SVD of the box "
                                        "head's fully connected layers: LAYER=RANK,... (e.g. fc6=256,fc7=128), "
                                        "RANK for every layer, or auto; gated against the unfactored model."),
    data: Path | None = typer.Option(None, "--data", "-d", help="Labelled COCO set: the SVD gate is mAP@.5 on "
                                     "its --split."),
    split: str = typer.Option("val", help="Split of --data the SVD gate judges on."),
    images: Path | None = typer.Option(None, "--images", help="Images (file, folder, glob) for --check and for "
                                       "the SVD gate's agreement (no --data), besides synthetic scenes and photos."),
    max_map_drop: float = typer.Option(0.01, min=0.0, help="Largest mAP@.5 drop the SVD gate allows (--data)."),
    min_agreement: float = typer.Option(0.95, min=0.0, max=1.0, help="Smallest share of the unfactored model's "
                                        "confident detections the SVD file must keep (no --data)."),
    force: bool = typer.Option(False, "--force/--no-force", metavar="",
                               help="Write the SVD file even if it fails the gate."),
    json_out: JsonOut = False,
) -> None:
    """Export to one static ONNX file (uint8 NHWC in, padded detections out, metadata inside).

    Examples:
      edgedet export runs/shapes/best.pt -o shapes.onnx --check
      edgedet export coco.pth --arch fasterrcnn_resnet50_fpn --num-classes 91 --imgsz 800 --dynamic-batch
      edgedet export my_model.pth --arch fasterrcnn_mobilenet_v3_large_fpn --class-names classes.txt
      edgedet export runs/shapes/best.pt -o fast.onnx --proposals 50 --check
      edgedet export runs/shapes/best.pt -o svd.onnx --svd-rank auto --data shapes
    """
    import time

    from edgedet.architectures import set_box_postprocess, set_proposal_budget
    from edgedet.export.int8_file import GateLimits
    from edgedet.export.onnx_export import ExportOptions, export_onnx

    if svd_rank is None and (data is not None or force):
        raise typer.BadParameter("judges a factored box head: use it with --svd-rank",
                                 param_hint="--data" if data is not None else "--force")
    model, meta = _load(weights, arch, num_classes, parse_canvas(imgsz), class_names)
    if proposals:
        set_proposal_budget(model, proposals)
    set_box_postprocess(model, score_thresh, nms_thresh, max_dets)  # on the model: --check's eager run agrees
    out = out or weights.with_suffix(".onnx")
    opts = ExportOptions(canvas=meta.canvas, batch=None if dynamic_batch else batch, opset=opset,
                         score_thresh=score_thresh, nms_thresh=nms_thresh, max_detections=max_dets,
                         inline_functions=inline_functions, roi_mode=roi_mode)
    t0 = time.perf_counter()
    with console.status(f"exporting {meta.architecture} at {meta.canvas[0]}x{meta.canvas[1]}") as status:
        if svd_rank is None:
            path, svd = export_onnx(model, meta.model_metadata(), out, opts), None
        else:
            svd = _export_factored(model, meta, out, opts, svd_rank, data, split, images,
                                   GateLimits(max_map_drop, min_agreement, force), status.update)
            path = svd.path
    seconds = time.perf_counter() - t0
    console.print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) in {seconds:.1f}s")
    result = {"onnx": str(path), "seconds": seconds}
    if svd is not None:
        console.print(f"SVD: {svd.facts.describe()}")
        verdict = "[green]passed[/]" if svd.gate.passed else "[red]FAILED (written because of --force)[/]"
        console.print(f"accuracy gate {verdict}: {svd.gate.describe()}")
        result["svd"] = {**svd.facts.as_dict(), "gate": svd.gate.as_dict()}
    if check:
        result["parity"] = _run_check(path, model, meta, images).summary()
    if json_out:
        emit_json(result)
    if check and not result["parity"]["ok"]:
        raise typer.Exit(1)


def _export_factored(model, meta, out: Path, opts, ranks_text: str, data: Path | None, split: str,
                     images: Path | None, limits, say):
    from edgedet.data.coco import load_split
    from edgedet.export.box_head_svd import parse_ranks
    from edgedet.export.check import parity_images
    from edgedet.export.svd_file import AUTO, GateSet, write_factored_model
    from edgedet.runtime.errors import EdgedetError

    try:
        ranks = AUTO if ranks_text.strip() == AUTO else parse_ranks(ranks_text)
    except EdgedetError as exc:
        raise typer.BadParameter(str(exc), param_hint="--svd-rank") from None
    task = "keypoints" if meta.keypoint_names else "detection"
    gate_set = (GateSet(labelled=load_split(data, split)) if data else
                GateSet(frames=[img for _, img in parity_images(meta.canvas, images, photos=True, task=task)]))
    return write_factored_model(model, meta.model_metadata(), out, opts, ranks, gate_set, limits, say)


def _run_check(onnx_path: Path, model, meta, images: Path | None, batch: int = 4):
    from rich.table import Table

    from edgedet.eager_detector import TorchDetector
    from edgedet.export.check import check_parity, parity_images

    eager = TorchDetector(model, meta.class_names, meta.canvas, pose=meta.pose, architecture=meta.architecture)
    with console.status("checking parity against the eager model"):
        task = "keypoints" if meta.keypoint_names else "detection"
        report = check_parity(onnx_path, eager, parity_images(meta.canvas, images, photos=True, task=task), batch)
    table = Table(title=f"parity: {onnx_path.name} vs eager torchvision")
    for col in ("image", "eager", "onnx", "matched", "missing", "extra", "ties@K", "min IoU", "max |Δscore|", "ok"):
        table.add_column(col, justify="right")
    for r in report.images:
        table.add_row(r.name, str(r.reference), str(r.candidate), str(r.matched), str(r.missing), str(r.extra),
                      str(r.ties_at_cutoff), f"{r.min_iou:.5f}", f"{r.max_score_diff:.2e}",
                      "[green]yes" if r.ok else "[red]NO")
    console.print(table)
    if report.batch_consistent is not None:
        console.print(f"batch-{batch} vs batch-1: max difference {report.batch_max_diff:.2e} "
                      f"({'consistent' if report.batch_consistent else 'INCONSISTENT'})")
    summary = report.summary()
    for key, where in (("joints", "batch 1"), ("batch_joints", f"batch {batch}")):
        if key in summary:
            j = summary[key]
            console.print(f"joints within 1 px and 1e-3 of eager at {where}: {j['agree']}/{j['total']} "
                          f"({100 * j['share']:.2f}%, need 99%), largest offset {j['max_px']:.2f} px")
    console.print("[green]parity OK" if report.ok else "[red]parity FAILED")
    return report


def check(
    model: Path = typer.Argument(..., help="The exported .onnx file."),
    weights: Path = typer.Option(..., "--weights", "-w", help="The checkpoint / state dict it was exported from."),
    arch: str | None = Arch,
    num_classes: int | None = NumClasses,
    images: Path | None = typer.Option(None, help="Extra images (file, folder, glob) besides synthetic and "
                                                     "sample photos."),
    batch: int = typer.Option(4, min=1, help="Batch size for the batch-consistency check (dynamic-batch files)."),
    json_out: JsonOut = False,
) -> None:
    """Parity of an exported file with the eager torchvision model; exits 1 past tolerance.

    Every eager detection must be matched (same label, IoU >= 0.99, |Δscore| <= 1e-3) with no
    extras, except ties at the K cut-off, which are reported as such. For a Keypoint R-CNN at least
    99 % of the matched detections' joints must be within 1 px and 1e-3 of eager's, at batch 1 and B.

    Example: edgedet check shapes.onnx --weights runs/shapes/best.pt --images photos/
    """
    from edgedet.architectures import set_box_postprocess, set_proposal_budget
    from edgedet.runtime.onnx_detector import OnnxDetector

    with OnnxDetector(model) as detector:
        canvas, file_meta = detector.canvas, detector.meta
    torch_model, meta = _load(weights, arch, num_classes, canvas)
    extra = file_meta.extra
    if "svd" in extra:  # a factored box head (export --svd-rank): eager factors the same layers
        from edgedet.export.box_head_svd import factor_box_head

        factor_box_head(torch_model, {str(k): int(v) for k, v in extra["svd"]["ranks"].items()})
    if "rpn_post_nms_top_n" in extra:  # the file's proposal budget, so eager runs the same one
        set_proposal_budget(torch_model, int(extra["rpn_post_nms_top_n"]), int(extra["rpn_pre_nms_top_n"]))
    # and the file's box thresholds and K (export --conf/--nms-thresh/--max-dets)
    set_box_postprocess(torch_model, file_meta.score_thresh, file_meta.nms_thresh, file_meta.max_detections)
    report = _run_check(model, torch_model, meta, images, batch)
    if json_out:
        emit_json(report.summary())
    if not report.ok:
        raise typer.Exit(1)
