"""``edgedet lineage``."""

from __future__ import annotations

from pathlib import Path

import typer

from edgedet.cli.console import console, emit_json
from edgedet.cli.options import JsonOut


def lineage(
    out: Path = typer.Option(Path("runs/lineage"), "--out", "-o", help="Folder for lineage.json, lineage.png, "
                             "the models and (without --data) the data."),
    data: Path | None = typer.Option(None, "--data", "-d", help="COCO-format data (train/ and val/); default: "
                                     "synthetic shapes written into OUT/data."),
    budget_min: float = typer.Option(15.0, "--budget-min", min=0.1, help="Minutes for the whole run; each "
                                     "method's training gets its share."),
    images: int = typer.Option(600, "--count", min=20, help="Synthetic images (train + val) when --data is not given."),
    size: int = typer.Option(192, "--imgsz", min=64, help="Synthetic image side (a multiple of 32: the canvas)."),
    seed: int = typer.Option(0, help="Random seed: the same seed, the same data and models."),
    export: bool = typer.Option(True, "--export/--no-export", metavar="",
                                help="The Fast R-CNN's ONNX export and its parity "
                                   "check (about ten seconds)."),
    json_out: JsonOut = False,
) -> None:
    """Sliding window + AdaBoost, selective search, R-CNN, Fast R-CNN, Faster R-CNN (RoI Pool and
    RoI Align, from scratch and pre-trained): each trained and scored on the same data by the same
    pycocotools evaluation, with seconds per image split into proposals / features / head.

    Examples:
      edgedet lineage --out runs/lineage
      edgedet lineage --data data/shapes --out runs/lineage --budget-min 30
    """
    from rich.table import Table

    from edgedet.cli.lineage import LineageConfig, run_lineage

    cfg = LineageConfig(out=out, data=data, budget_min=budget_min, images=images, size=size, seed=seed,
                        export=export)
    report = run_lineage(cfg, say=lambda s: console.print(f"[bold cyan]{s}" if s.startswith("[") else s))
    table = Table(title=f"the road to Faster R-CNN ({report['seconds']['total']:.0f} s)")
    for col, justify in (("method", "left"), ("mAP@.5", "right"), ("mAP", "right"), ("s/image", "right"),
                         ("props/img", "right"), ("train s", "right")):
        table.add_column(col, justify=justify)
    for row in report["rows"]:
        cells = [("map50", ".3f"), ("map", ".3f"), ("s_per_image", ".4f"), ("proposals_per_image", ".0f"),
                 ("train_s", ".0f")]
        table.add_row(row["method"], *("-" if row.get(k) is None else format(row[k], spec) for k, spec in cells))
    console.print(table)
    for claim, result in report["orderings"].items():
        if "holds" in result:
            console.print(f"{claim}: {'yes' if result['holds'] else 'no'}")
        else:  # recall at IoU 0.5 and 0.7
            console.print(f"{claim}: " + ", ".join(f"{k} {'yes' if v['holds'] else 'no'} ({v['rpn']:.3f} vs "
                                                   f"{v['selective_search']:.3f})" for k, v in result.items()))
    console.print(f"wrote {out / 'lineage.json'} and {out / 'lineage.png'}")
    if json_out:
        emit_json(report)
