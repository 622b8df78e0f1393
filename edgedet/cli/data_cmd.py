"""``edgedet data synth`` and ``edgedet data check``."""

from __future__ import annotations

from pathlib import Path

import typer

from edgedet.cli.console import console, emit_json, progress_bar
from edgedet.cli.options import JsonOut

app = typer.Typer(help="Data sets: make synthetic data, check COCO-format data.", no_args_is_help=True)


@app.command("synth")
def synth(
    out: Path = typer.Argument(..., help="Folder to write train/ and val/ into."),
    images: int = typer.Option(1000, "--images", "-n", min=2, help="Total images (train + val)."),
    seed: int = typer.Option(0, help="Random seed; the same seed writes the same data."),
    size: int = typer.Option(256, min=32, help="Image side in pixels."),
    val_fraction: float = typer.Option(0.2, min=0.01, max=0.99,
                                       help="Share of images in the val split."),
    json_out: JsonOut = False,
) -> None:
    """Write a COCO-format synthetic shapes data set (circle, square, triangle, cross).

    Example: edgedet data synth data/shapes --images 1000 --seed 0
    """
    from edgedet.data.synthetic import synthesize

    with progress_bar() as bar:
        task = bar.add_task("synthesising", total=images, status="")
        paths = synthesize(out, images, seed, (size, size), val_fraction, progress=lambda: bar.advance(task))
    console.print(f"wrote {paths['train']} and {paths['val']}")
    if json_out:
        emit_json({k: str(v) for k, v in paths.items()})


@app.command("check")
def check(
    data: Path = typer.Argument(..., help="Data folder (train/ val/) or an annotations JSON."),
    split: str = typer.Option("train", help="Split to check."),
    json_out: JsonOut = False,
) -> None:
    """Validate a COCO-format split: every record, every image file.

    Example: edgedet data check data/shapes --split val
    """
    from edgedet.data.coco import load_split

    data_set = load_split(data, split)
    boxes = sum(len(r.boxes) for r in data_set.images)
    console.print(f"ok: {len(data_set.images)} images, {boxes} boxes, classes: {', '.join(data_set.class_names[1:])}")
    if json_out:
        emit_json({"images": len(data_set.images), "boxes": boxes, "classes": list(data_set.class_names[1:])})
