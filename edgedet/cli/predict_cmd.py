"""``edgedet predict``."""

from __future__ import annotations

from pathlib import Path

import typer

from edgedet.cli.console import console, emit_json, progress_bar


def predict(
    model: Path = typer.Argument(..., help="A .pt checkpoint or an exported .onnx file."),
    images: str = typer.Argument(..., help="Image file, folder or glob."),
    out: Path = typer.Option(Path("runs/predict"), "--out", "-o", help="Folder for annotated images."),
    conf: float = typer.Option(0.25, help="Draw detections scoring at least this."),
    provider: str = typer.Option("cpu", help="ONNX Runtime provider: cpu, cuda, tensorrt."),
    json_out: bool = typer.Option(False, "--json", help="Print detections per image as JSON."),
) -> None:
    """Detect on images and write copies with boxes, class names and scores drawn.

    Example: edgedet predict model.onnx data/shapes/val/images --out runs/predict --conf 0.5
    """
    from edgedet.model_loader import load_detector
    from runtime.annotate import annotate
    from runtime.images import list_images, read_rgb, write_rgb

    detector = load_detector(model, provider=provider)
    files = list_images(images)
    out.mkdir(parents=True, exist_ok=True)
    report = {}
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
