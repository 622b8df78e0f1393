"""``edgedet profile``: stage latencies, throughput, operators and stages, side by side."""

from __future__ import annotations

from pathlib import Path

import typer

from edgedet.cli.console import console
from edgedet.cli.options import Threads
from edgedet.runtime.onnx_detector import Provider


def _stage_map(model: Path) -> dict[str, str]:
    """Graph-based stage grouping where the onnx package is installed (the exporter's side)."""
    try:
        from edgedet.export.stage_map import node_stages
    except ImportError:  # the torch-free edge install has no onnx: group by node names
        return {}
    return node_stages(model)


def profile(
    models: list[Path] = typer.Argument(..., help="One or more .onnx files (compared side by side)."),
    batch: int = typer.Option(1, min=1, help="Frames per inference (dynamic-batch files)."),
    iters: int = typer.Option(50, min=1),
    warmup: int = typer.Option(5, min=0),
    threads: Threads = None,
    provider: list[Provider] = typer.Option([Provider.cpu], help="Repeat to compare providers."),
    images: str | None = typer.Option(None, help="Image file/folder/glob to use instead of synthetic frames."),
    operators: bool = typer.Option(True, help="Include ONNX Runtime's per-operator profile."),
    json_path: Path | None = typer.Option(None, "--json", help="Write all results as JSON here."),
    plot: Path | None = typer.Option(None, help="Latency histogram PNG."),
) -> None:
    """Latency p50/p90/p99/max of pre-process, inference and post-process; throughput; where the time goes.

    Examples:
      edgedet profile model.onnx --iters 100 --plot latency.png
      edgedet profile a.onnx b.onnx --provider cpu --provider cuda --json profile.json
    """
    import numpy as np
    from rich import box
    from rich.table import Table

    from edgedet.runtime.atomic import write_json
    from edgedet.runtime.host import host_info
    from edgedet.runtime.images import list_images, read_rgb
    from edgedet.runtime.onnx_detector import OnnxDetector
    from edgedet.runtime.profiling import histogram_png, operator_profile, profile_stages

    results, samples = [], {}
    for model in models:
        for prov in provider:
            with OnnxDetector(model, provider=prov, threads=threads) as det:
                if images:
                    frames = [read_rgb(p) for p in list_images(images)[:16]]
                else:
                    rng = np.random.default_rng(0)
                    h, w = det.canvas
                    frames = [rng.integers(0, 256, (h * 3 // 4, w, 3), dtype=np.uint8) for _ in range(4)]
                b = det.fixed_batch or batch
                device = det.describe().device
                with console.status(f"profiling {model.name} on {device}"):
                    r = profile_stages(det, frames, b, iters, warmup)
            if operators:
                with console.status(f"operator profile of {model.name}"):
                    r["operators"] = operator_profile(model, frames, b, max(3, iters // 5), threads, prov,
                                                      stages=_stage_map(model))
            label = f"{model.name} [{device.replace('ExecutionProvider', '')}]"
            samples[label] = r.pop("_samples_total_ms")
            results.append({"model": str(model), "provider": device, **r})
    cpu = host_info()["cpu"]
    features = ", ".join(f"{name} {'yes' if cpu[name] else 'no'}" for name in ("avx512", "vnni", "bf16", "amx"))
    console.print(f"host: {cpu['model']}; {features}")
    table = Table(title=f"latency per batch (ms), {iters} iterations", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("model [device]", overflow="fold", max_width=24)
    for col in ("b", "pre", "p50", "p90", "p99", "max", "post", "fps", "ovh"):
        table.add_column(col, justify="right", no_wrap=True)
    for label, r in zip(samples, results):
        inf = r["inference_ms"]
        table.add_row(label, str(r["batch"]), f"{r['preprocess_ms']['p50']:.2f}", f"{inf['p50']:.1f}",
                      f"{inf['p90']:.1f}", f"{inf['p99']:.1f}", f"{inf['max']:.1f}",
                      f"{r['postprocess_ms']['p50']:.2f}", f"{r['throughput_fps']:.1f}",
                      f"{r['overhead_pct_of_inference']:.1f}%")
    console.print(table)
    console.print("p50..max: inference; pre/post: letterbox and box mapping; ovh: pre + post as % of inference")
    for label, r in zip(samples, results):
        if "operators" in r:
            ops = r["operators"]
            stages = ", ".join(f"{k} {v['ms']:.1f} ms ({v['pct']:.0f}%)" for k, v in ops["stages"].items())
            top = ", ".join(f"{o['op']} {o['ms']:.1f}" for o in ops["operators"][:6])
            console.print(f"[bold]{label}[/] stages: {stages}\n  top operators (ms): {top}")
    if plot:
        histogram_png(samples, plot)
        console.print(f"wrote {plot}")
    if json_path:
        write_json(json_path, {"host": host_info(), "results": results})
