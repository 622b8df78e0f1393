"""``edgedet data synth`` and ``edgedet data check``."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from edgedet.cli.console import console, emit_json, progress_bar
from edgedet.cli.options import JsonOut


class Task(str, Enum):
    detection = "detection"
    keypoints = "keypoints"
    tracking = "tracking"


app = typer.Typer(help="Data sets: make synthetic data, check COCO-format data.", no_args_is_help=True)


@app.command("synth")
def synth(
    out: Path = typer.Argument(..., help="Folder to write train/ and val/ into."),
    images: int = typer.Option(1000, "--count", "-n", min=2, help="Total images (train + val)."),
    seed: int = typer.Option(0, help="Random seed; the same seed writes the same data."),
    size: int = typer.Option(256, "--imgsz", min=32, help="Image side in pixels."),
    val_fraction: float = typer.Option(0.2, min=0.01, max=0.99,
                                       help="Share of images in the val split."),
    task: Task = typer.Option(Task.detection, help="detection: shapes with boxes; keypoints: stick figures "
                              "with COCO keypoints (11 joints, skeleton, visibility flags); tracking: videos of "
                              "moving shapes with MOTChallenge ground truth and true line/zone counts."),
    sequences: int = typer.Option(4, "--sequences", min=1, help="tracking: how many videos."),
    frames: int = typer.Option(200, "--frames", min=10, help="tracking: frames per video (25 fps)."),
    json_out: JsonOut = False,
) -> None:
    """Write a synthetic data set: COCO-format shapes (circle, square, triangle, cross) or stick figures, or
    tracking videos of the same shapes moving.

    Examples:
      edgedet data synth data/shapes --count 1000 --seed 0
      edgedet data synth data/figures --task keypoints --count 1000
      edgedet data synth data/tracks --task tracking --sequences 4 --frames 200
    """
    if task is Task.tracking:
        from edgedet.data.synthetic_tracks import synthesize_tracking

        with progress_bar() as bar:
            bar_task = bar.add_task("rendering", total=sequences, status="")
            folders = synthesize_tracking(out, sequences, frames, seed, size,
                                          progress=lambda: bar.advance(bar_task))
        console.print(f"wrote {len(folders)} sequences to {out} (video.avi, gt/gt.txt, analytics.json each)")
        if json_out:
            emit_json({"sequences": [str(f) for f in folders]})
        return
    from edgedet.data.synthetic import synthesize

    with progress_bar() as bar:
        bar_task = bar.add_task("synthesising", total=images, status="")
        paths = synthesize(out, images, seed, (size, size), val_fraction, progress=lambda: bar.advance(bar_task),
                           task=task.value)
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
    summary = {"images": len(data_set.images), "boxes": boxes, "classes": list(data_set.class_names[1:])}
    line = f"ok: {len(data_set.images)} images, {boxes} boxes, classes: {', '.join(data_set.class_names[1:])}"
    if data_set.keypoint_names:
        labelled = sum(int((r.keypoints[..., 2] > 0).sum()) for r in data_set.images)
        summary.update(keypoints=list(data_set.keypoint_names), labelled_joints=labelled,
                       skeleton=[list(e) for e in data_set.skeleton])
        line += f"; {len(data_set.keypoint_names)} keypoints, {labelled} labelled joints"
    console.print(line)
    if json_out:
        emit_json(summary)
