"""``edgedet info``."""

from __future__ import annotations

from pathlib import Path

import typer

from edgedet.cli.console import console, emit_json
from edgedet.cli.options import JsonOut


def info(
    model: Path | None = typer.Argument(None, help="An .onnx file, an .engine or a .pt checkpoint."),
    archs: bool = typer.Option(False, "--archs/--no-archs", metavar="", help="List the architectures instead."),
    json_out: JsonOut = False,
) -> None:
    """Show a model's metadata and I/O signature (or the available architectures).

    Examples:
      edgedet info shapes.onnx
      edgedet info --archs
    """
    from dataclasses import asdict

    from rich.table import Table

    from edgedet.runtime.model_files import CHECKPOINT_SUFFIXES, require_model_file

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
        raise typer.BadParameter("give a model file, or --archs", param_hint="MODEL")
    model = require_model_file(model)
    if model.suffix.lower() in CHECKPOINT_SUFFIXES:
        from edgedet.checkpoints import load_checkpoint

        meta = load_checkpoint(model)[1]
        if json_out:
            emit_json({"file": str(model), "meta": asdict(meta)})
        else:
            for k, v in asdict(meta).items():
                if k != "train":
                    console.print(f"{k:>14}: {v}")
        return
    from edgedet.runtime.loader import load_detector
    from edgedet.runtime.onnx_detector import OnnxDetector

    with load_detector(model) as det:
        payload = {"file": str(model), "backend": det.describe().as_dict(), "metadata": asdict(det.meta)}
        if isinstance(det, OnnxDetector):  # an ONNX file: show its signature
            payload["inputs"] = [{"name": i.name, "type": i.type, "shape": i.shape} for i in det.session.get_inputs()]
            payload["outputs"] = [{"name": o.name, "type": o.type, "shape": o.shape}
                                  for o in det.session.get_outputs()]
    if json_out:
        emit_json(payload)
        return
    table = Table(title=str(model))
    table.add_column("key")
    table.add_column("value", overflow="fold")
    for k, v in payload["metadata"].items():
        table.add_row(k, str(v))
    console.print(table)
    if "inputs" in payload:
        sig = Table(title="I/O signature")
        for col in ("", "name", "type", "shape"):
            sig.add_column(col)
        for kind in ("inputs", "outputs"):
            for row in payload[kind]:
                sig.add_row(kind[:-1], row["name"], row["type"], str(row["shape"]))
        console.print(sig)
