"""``edgedet eval``."""

from __future__ import annotations

from pathlib import Path

import typer

from edgedet.cli.console import console, emit_json, progress_bar
from edgedet.cli.options import BackendOption, JsonOut, ModelFile, PrecisionOption, ProviderOption, Threads
from edgedet.runtime.detector import Precision
from edgedet.runtime.loader import Backend
from edgedet.runtime.onnx_detector import Provider


def evaluate(
    model: ModelFile,
    data: Path = typer.Option(..., "--data", "-d", help="Data folder or annotations JSON (COCO format)."),
    split: str = typer.Option("val", help="Split to evaluate."),
    batch_size: int = typer.Option(4, "--batch", "-b", min=1, help="Frames per inference call."),
    results: Path | None = typer.Option(None, help="Write COCO results JSON here."),
    backend: BackendOption = Backend.auto,
    precision: PrecisionOption = Precision.fp32,
    provider: ProviderOption = Provider.cpu,
    threads: Threads = None,
    json_out: JsonOut = False,
) -> None:
    """COCO mAP (pycocotools) of any backend, through the same Detector contract; OKS mAP too for a
    Keypoint R-CNN on a keypoints data set.

    Examples:
      edgedet eval runs/shapes/best.pt --data data/shapes
      edgedet eval model.onnx --data data/shapes --json
      edgedet eval model.onnx --data data/shapes --backend openvino --precision bf16  # and its change vs fp32
      edgedet eval model.int8.onnx --data data/shapes --backend openvino --precision int8
    """
    from rich.table import Table

    from edgedet.cli.models import open_detector
    from edgedet.data.coco import load_split
    from edgedet.evaluation.coco_eval import evaluate as run_eval

    with open_detector(model, provider=provider, threads=threads, backend=backend,
                       precision=precision.value) as detector:
        data_set = load_split(data, split)
        with progress_bar(transient=True) as bar:
            task = bar.add_task("evaluating", total=len(data_set.images), status="")
            metrics = run_eval(detector, data_set, batch_size, results, progress=lambda n: bar.advance(task, n))
        info = detector.describe()
        stored = detector.meta.extra.get("quantization", {}).get("accuracy") if detector.meta else None
    change = {}
    if precision is Precision.bf16:  # bf16's cost, measured: the same file at fp32 on the same images
        with open_detector(model, provider=provider, threads=threads, backend=backend) as fp32:
            with progress_bar(transient=True) as bar:
                task = bar.add_task("evaluating fp32", total=len(data_set.images), status="")
                reference = run_eval(fp32, data_set, batch_size, progress=lambda n: bar.advance(task, n))
        change = {"fp32_map50": reference["map50"], "map50_change": metrics["map50"] - reference["map50"]}
    table = Table(title=f"{model.name} ({info.backend}, {info.precision}) on {split}, {len(data_set.images)} images")
    table.add_column("class")
    table.add_column("AP@[.5:.95]", justify="right")
    for name, ap in metrics["per_class"].items():
        table.add_row(name, f"{ap:.3f}")
    table.add_row("[bold]all", f"[bold]{metrics['map']:.3f}")
    console.print(table)
    console.print(f"mAP {metrics['map']:.4f}  mAP@.5 {metrics['map50']:.4f}  mAP@.75 {metrics['map75']:.4f}")
    if "keypoints" in metrics:  # a pose model on a keypoints data set: OKS, pycocotools iouType="keypoints"
        oks = metrics["keypoints"]
        console.print(f"OKS mAP {oks['map']:.4f}  OKS mAP@.5 {oks['map50']:.4f}  OKS mAP@.75 {oks['map75']:.4f}")
    if change:
        console.print(f"fp32 on the same images: mAP@.5 {change['fp32_map50']:.4f}; {info.precision} changes it by "
                      f"{change['map50_change']:+.4f}")
    if stored:  # an int8 file: its fp32 source is not at hand, its gate result is in the file
        change = {"quantize_gate": stored}
        console.print(f"at quantize time: {stored['metric']} {stored['candidate']:.4f} vs fp32 "
                      f"{stored['reference']:.4f} ({stored['change']:+.4f}) on {stored['images']} images")
    if json_out:
        emit_json({**metrics, **change, "backend": info.as_dict()})
