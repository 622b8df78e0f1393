"""``edgedet demo``."""

from __future__ import annotations

from pathlib import Path

import typer

from edgedet.cli.console import console, emit_json
from edgedet.cli.options import JsonOut


def demo(
    out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="Folder for data, run, model and report."),
    images: int = typer.Option(1200, min=20, help="Synthetic images (train + val)."),
    epochs: int = typer.Option(6, min=1, help="Training epochs."),
    seed: int = typer.Option(0),
    json_out: JsonOut = False,
) -> None:
    """The whole path on a CPU in minutes: synthetic data -> train -> eval -> export -> check -> stream -> profile.

    Example: edgedet demo --out runs/demo
    """
    from edgedet.cli.demo import DemoConfig, run_demo
    from edgedet.cli.train_cmd import run_with_progress
    from edgedet.training.trainer import train

    cfg = DemoConfig(out=out, images=images, epochs=epochs, seed=seed)
    report = run_demo(cfg, say=lambda s: console.print(f"[bold cyan]{s}"),
                      train_runner=lambda c: run_with_progress(c, train))
    secs = report["seconds"]
    console.print(f"[bold]demo done in {secs['total']:.0f}s[/]: mAP@.5 {report['map50']:.3f} (eager), "
                  f"{report['onnx_map50']:.3f} (ONNX); parity {'OK' if report['parity']['ok'] else 'FAILED'}; "
                  f"report: {out / 'report.json'}")
    if json_out:
        emit_json(report)
