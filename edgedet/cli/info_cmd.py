"""``edgedet info``."""

from __future__ import annotations

from pathlib import Path

import typer

from edgedet.cli.console import console, emit_json


def info(
    model: Path = typer.Argument(None, help="An .onnx file or a .pt checkpoint."),
    archs: bool = typer.Option(False, "--archs", help="List the architectures instead."),
    json_out: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Show a model's metadata and I/O signature (or the available architectures).

    Examples:
      edgedet info shapes.onnx
      edgedet info --archs
    """
    from rich.table import Table

    from runtime.errors import EdgedetError

    if archs:
        from edgedet.architectures import ARCHITECTURES

        rows = [{"name": s.name, "canvas": list(s.canvas), "torchvision": s.torchvision}
                for s in ARCHITECTURES.values()]
        if json_out:
            emit_json(rows)
        else:
            for r in rows:
                console.print(f"{r['name']:40s} canvas {r['canvas'][0]}x{r['canvas'][1]}"
                              f"{'' if r['torchvision'] else '  (edgedet)'}")
        return
    if model is None:
        raise EdgedetError("give a model file, or --archs")
    if model.suffix in (".pt", ".pth"):
        from edgedet.checkpoints import load_checkpoint

        meta = load_checkpoint(model)["meta"]
        payload = {"file": str(model), "meta": meta}
        if json_out:
            emit_json(payload)
        else:
            for k, v in meta.items():
                if k != "train":
                    console.print(f"{k:>14}: {v}")
        return
    from dataclasses import asdict

    from runtime.onnx_detector import OnnxDetector

    det = OnnxDetector(model)
    io = {"inputs": [{"name": i.name, "type": i.type, "shape": i.shape} for i in det.session.get_inputs()],
          "outputs": [{"name": o.name, "type": o.type, "shape": o.shape} for o in det.session.get_outputs()]}
    payload = {"file": str(model), "metadata": asdict(det.meta), **io}
    if json_out:
        emit_json(payload)
        return
    table = Table(title=str(model))
    table.add_column("key")
    table.add_column("value")
    for k, v in asdict(det.meta).items():
        table.add_row(k, str(v))
    console.print(table)
    sig = Table(title="I/O signature")
    for col in ("", "name", "type", "shape"):
        sig.add_column(col)
    for kind in ("inputs", "outputs"):
        for row in io[kind]:
            sig.add_row(kind[:-1], row["name"], row["type"], str(row["shape"]))
    console.print(sig)
