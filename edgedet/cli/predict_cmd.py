"""``edgedet predict``."""

from __future__ import annotations

from pathlib import Path

import typer

from edgedet.cli.console import console, emit_json, progress_bar
from edgedet.cli.options import JsonOut, ModelFile, ProviderOption, Threads
from edgedet.runtime.onnx_detector import Provider


def predict(
    model: ModelFile,
    images: str = typer.Argument(..., help="Image file, folder or glob."),
    out: Path = typer.Option(Path("runs/predict"), "--out", "-o", help="Folder for annotated images."),
    conf: float = typer.Option(0.25, min=0.0, max=1.0, help="Draw detections scoring at least this."),
    provider: ProviderOption = Provider.cpu,
    threads: Threads = None,
    json_out: JsonOut = False,
) -> None:
    """Detect on images and write copies with boxes, class names and scores drawn.

    Example: edgedet predict model.onnx data/shapes/val/images --out runs/predict --conf 0.5
    """
    from edgedet.cli.models import open_detector
    from edgedet.runtime.annotate import annotate
    from edgedet.runtime.images import list_images, read_rgb, write_rgb

    report = {}
    with open_detector(model, provider=provider, threads=threads) as detector:
        files = list_images(images)
        out.mkdir(parents=True, exist_ok=True)
        with progress_bar(transient=True) as bar:
            task = bar.add_task("predicting", total=len(files), status="")
            for path in files:
                frame = read_rgb(path)
                dets = detector([frame])[0].filter(conf)
                write_rgb(out / (path.stem + ".jpg"), annotate(frame, dets))
                report[str(path)] = dets.to_records()
                bar.advance(task)
    console.print(f"wrote {len(files)} annotated images to {out}")
    if json_out:
        emit_json(report)
