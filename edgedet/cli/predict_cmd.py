"""``edgedet predict``."""

from __future__ import annotations

from pathlib import Path

import typer

from edgedet.cli.console import console, emit_json, progress_bar
from edgedet.cli.options import BackendOption, JsonOut, ModelFile, PrecisionOption, ProviderOption, Threads
from edgedet.runtime.detector import Precision
from edgedet.runtime.loader import Backend
from edgedet.runtime.onnx_detector import Provider


def predict(
    model: ModelFile,
    images: str = typer.Argument(..., help="Image file, folder or glob."),
    out: Path = typer.Option(Path("runs/predict"), "--out", "-o", help="Folder for annotated images."),
    conf: float = typer.Option(0.25, min=0.0, max=1.0, help="Draw detections scoring at least this."),
    backend: BackendOption = Backend.auto,
    precision: PrecisionOption = Precision.fp32,
    provider: ProviderOption = Provider.cpu,
    threads: Threads = None,
    json_out: JsonOut = False,
) -> None:
    """Detect on images and write copies with boxes, class names and scores drawn (skeletons too for a pose model).

    Files that cannot be read are skipped with a warning and listed (exit 0 when at least one
    image was processed).

    Example: edgedet predict model.onnx data/shapes/val/images --out runs/predict --conf 0.5
    """
    from edgedet.cli.models import open_detector
    from edgedet.runtime.annotate import annotate
    from edgedet.runtime.errors import EdgedetError
    from edgedet.runtime.images import write_rgb
    from edgedet.runtime.sources import ImageFolderSource

    detections = {}
    with open_detector(model, provider=provider, threads=threads, backend=backend,
                       precision=precision.value) as detector, ImageFolderSource(images) as source:
        with progress_bar(transient=True) as bar:
            task = bar.add_task("predicting", total=len(source.files), status="")
            for frame in source:
                path = source.files[frame.index]
                dets = detector([frame.image])[0].filter(conf)
                out.mkdir(parents=True, exist_ok=True)
                write_rgb(out / (path.stem + ".jpg"), annotate(frame.image, dets))
                detections[str(path)] = dets.to_records()
                bar.update(task, completed=frame.index + 1)
    if not detections:
        raise EdgedetError(f"none of the {len(source.files)} images at '{images}' could be read")
    skipped = f"; skipped {len(source.unreadable)} unreadable" if source.unreadable else ""
    console.print(f"wrote {len(detections)} annotated images to {out}{skipped}")
    if json_out:
        emit_json({"images": detections, "unreadable": source.unreadable})
