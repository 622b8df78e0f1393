"""``edgedet profile``: stage latencies, throughput, operators and stages, side by side."""

from __future__ import annotations

from pathlib import Path

import typer

from edgedet.cli.console import console, emit_json
from edgedet.cli.options import JsonOut, Threads
from edgedet.runtime.detector import Precision
from edgedet.runtime.loader import Backend
from edgedet.runtime.onnx_detector import Provider


def _stage_map(model: Path) -> dict[str, str]:
    """Graph-based stage grouping where the onnx package is installed (the exporter's side)."""
    try:
        from edgedet.export.stage_map import node_stages
    except ImportError:  # the torch-free edge install has no onnx: group by node names
        return {}
    return node_stages(model)


def _configurations(models: list[Path], backends: list[Backend], precisions: list[Precision],
                    providers: list[Provider]) -> list[tuple[Path, Backend, Precision, Provider]]:
    """Every runnable combination, in the order asked (the first is the baseline of the ratios).
    bf16 is OpenVINO's; providers are ONNX Runtime's."""
    combos = []
    for model in models:
        for backend in backends:
            for precision in precisions:
                if precision is Precision.bf16 and backend is not Backend.openvino:
                    continue
                for provider in (providers if backend in (Backend.auto, Backend.onnxruntime) else providers[:1]):
                    combos.append((model, backend, precision, provider))
    return combos


def _short(info) -> str:
    backend = {"onnxruntime": "ort", "openvino": "ov", "tensorrt": "trt"}.get(info.backend, info.backend)
    device = info.device.replace("ExecutionProvider", "").lower()
    return f"{backend}/{device} {info.precision}" if device not in ("cpu",) else f"{backend} {info.precision}"


def profile(
    models: list[Path] = typer.Argument(..., help="One or more .onnx files (compared side by side)."),
    batch: int = typer.Option(1, min=1, help="Frames per inference (dynamic-batch files)."),
    iters: int = typer.Option(50, min=1, help="Timed calls per configuration."),
    warmup: int = typer.Option(5, min=0, help="Untimed calls first, per configuration."),
    threads: Threads = None,
    backend: list[Backend] = typer.Option([Backend.onnxruntime], "--backend", help="Repeat to compare backends."),
    precision: list[Precision] = typer.Option([Precision.fp32], "--precision",
                                              help="Repeat to compare: fp32, bf16 (openvino), int8 (int8 files)."),
    provider: list[Provider] = typer.Option([Provider.cpu], help="ONNX Runtime providers; repeat to compare."),
    images: str | None = typer.Option(None, help="Image file/folder/glob to use instead of synthetic frames."),
    operators: bool = typer.Option(True, "--operators/--no-operators", metavar="",
                                   help="Include ONNX Runtime's per-operator profile."),
    report: Path | None = typer.Option(None, "--report", help="Write all results as JSON to this file."),
    json_out: JsonOut = False,
    plot: Path | None = typer.Option(None, help="Latency histogram PNG."),
) -> None:
    """Latency of pre-process, inference and post-process; where time goes.

    Every model x --backend x --precision given runs side by side, timed
    interleaved (machine noise hits all alike); 'vs 1st' is the first
    row's inference p50 over each row's.

    Examples:
      edgedet profile model.onnx --iters 100 --plot latency.png
      edgedet profile model.onnx model.int8.onnx --backend openvino
      edgedet profile model.onnx --backend openvino --precision fp32
        --precision bf16 --images val/   (and how many detections bf16 keeps)
    """
    import numpy as np
    from rich import box
    from rich.table import Table

    from edgedet.runtime.agreement import agreement
    from edgedet.runtime.atomic import write_json
    from edgedet.runtime.host import host_info
    from edgedet.runtime.images import list_images, read_rgb
    from edgedet.runtime.loader import load_detector
    from edgedet.runtime.onnx_detector import OnnxDetector
    from edgedet.runtime.profiling import histogram_png, operator_profile, profile_side_by_side

    detectors, labels, providers = {}, {}, {}
    configurations = _configurations(models, backend, precision, provider)
    try:
        for model, back, prec, prov in configurations:
            if prec is Precision.int8 or back is Backend.openvino or prec is Precision.bf16:
                det = load_detector(model, backend=back, precision=prec, threads=threads)
            else:  # no spinning: an idle ONNX Runtime pool must not steal the cores of the next row's run
                det = OnnxDetector(model, provider=prov, threads=threads, spin=len(configurations) == 1)
            label = f"{model.name} {_short(det.describe())}"
            if label in labels.values():  # e.g. an int8 file asked for at fp32 and int8: the same thing
                det.close()
                continue
            key = f"{len(detectors)}"
            detectors[key], labels[key], providers[key] = det, label, prov
        first = next(iter(detectors.values()))
        if images:
            frames = [read_rgb(p) for p in list_images(images)[:16]]
        else:
            rng = np.random.default_rng(0)
            h, w = first.canvas
            frames = [rng.integers(0, 256, (h * 3 // 4, w, 3), dtype=np.uint8) for _ in range(4)]
        with console.status(f"profiling {len(detectors)} configuration(s), interleaved"):
            runs = profile_side_by_side(detectors, frames, batch, iters, warmup)
        results, samples = [], {}
        for key, det in detectors.items():
            r = runs[key]
            info = det.describe()
            if operators and info.backend == "onnxruntime":
                with console.status(f"operator profile of {labels[key]}"):
                    r["operators"] = operator_profile(info.model, frames, r["batch"], max(3, iters // 5), threads,
                                                      providers[key], stages=_stage_map(Path(info.model)))
            samples[labels[key]] = r.pop("_samples_total_ms")
            results.append({"label": labels[key], **info.as_dict(), "provider": info.device, **r})
        if images:  # reduced precision's cost: agreement with the same file at fp32, on the user's images
            for key, r in zip(detectors, results):
                fp32 = next((k for k, x in zip(detectors, results) if x["model"] == r["model"]
                             and x["precision"] == "fp32"), None)
                if r["precision"] != "fp32" and fp32 is not None:
                    share, count = agreement(detectors[key], detectors[fp32], frames)
                    r["agreement_with_fp32"] = {"share": round(share, 4), "confident_detections": count,
                                                "reference": labels[fp32]}
    finally:
        for det in detectors.values():
            det.close()
    cpu = host_info()["cpu"]
    features = ", ".join(f"{name} {'yes' if cpu[name] else 'no'}" for name in ("avx512", "vnni", "bf16", "amx"))
    console.print(f"host: {cpu['model']}; {features}")
    table = Table(title=f"latency per batch (ms), {iters} iterations", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("model backend precision", overflow="fold", max_width=26)
    for col in ("b", "pre", "p50", "p90", "p99", "post", "fps", "ovh", "vs 1st"):
        table.add_column(col, justify="right", no_wrap=True)
    base = results[0]["inference_ms"]["p50"]
    for r in results:
        inf = r["inference_ms"]
        r["speedup_vs_first"] = round(base / inf["p50"], 3)
        table.add_row(r["label"], str(r["batch"]), f"{r['preprocess_ms']['p50']:.2f}", f"{inf['p50']:.1f}",
                      f"{inf['p90']:.1f}", f"{inf['p99']:.1f}", f"{r['postprocess_ms']['p50']:.2f}",
                      f"{r['throughput_fps']:.1f}", f"{r['overhead_pct_of_inference']:.0f}%",
                      f"{r['speedup_vs_first']:.2f}x")
    console.print(table)
    console.print("p50..p99: inference; pre/post: letterbox and box mapping; ovh: pre + post as % of inference")
    for r in results:
        if "agreement_with_fp32" in r:
            a = r["agreement_with_fp32"]
            console.print(f"{r['label']}: {100 * a['share']:.1f} % of {a['reference']}'s {a['confident_detections']} "
                          "confident detections kept")
    for r in results:
        if "operators" in r:
            ops = r["operators"]
            stages = ", ".join(f"{k} {v['ms']:.1f} ms ({v['pct']:.0f}%)" for k, v in ops["stages"].items())
            top = ", ".join(f"{o['op']} {o['ms']:.1f}" for o in ops["operators"][:6])
            console.print(f"[bold]{r['label']}[/] stages: {stages}\n  top operators (ms): {top}")
    if plot:
        histogram_png(samples, plot)
        console.print(f"wrote {plot}")
    if report:
        write_json(report, {"host": host_info(), "results": results})
    if json_out:
        emit_json({"host": host_info(), "results": results})
