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
    """COCO mAP (pycocotools) of any backend, through the same Detector contract.

    Examples:
      edgedet eval runs/shapes/best.pt --data data/shapes
      edgedet eval model.onnx --data data/shapes --json
      edgedet eval model.onnx --data data/shapes --backend openvino --precision bf16   (bf16's cost in mAP)
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
    table = Table(title=f"{model.name} ({info.backend}, {info.precision}) on {split}, {len(data_set.images)} images")
    table.add_column("class")
    table.add_column("AP@[.5:.95]", justify="right")
    for name, ap in metrics["per_class"].items():
        table.add_row(name, f"{ap:.3f}")
    table.add_row("[bold]all", f"[bold]{metrics['map']:.3f}")
    console.print(table)
    console.print(f"mAP {metrics['map']:.4f}  mAP@.5 {metrics['map50']:.4f}  mAP@.75 {metrics['map75']:.4f}")
    if json_out:
        emit_json({**metrics, "backend": info.as_dict()})
