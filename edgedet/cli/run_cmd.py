"""``edgedet run``: stream a source through a model into sinks, with a latency report."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import typer

from edgedet.cli.console import console, emit_json


def _parse_serve(text: str) -> tuple[str, int]:
    from runtime.errors import EdgedetError

    host, _, port = text.rpartition(":")
    if not port.isdigit():
        raise EdgedetError(f"--serve '{text}' is not HOST:PORT (e.g. 127.0.0.1:8080)")
    return host or "127.0.0.1", int(port)


def run(
    model: Path = typer.Argument(..., help="An .onnx file (or a .pt checkpoint: eager, needs torch)."),
    source: str = typer.Option(..., "--source", "-s", help="Camera index, video file, image file/folder/glob, "
                               "rtsp:// or http(s):// URL (MJPEG too), or a GStreamer pipeline string."),
    save: Path = typer.Option(None, help="Annotated video (.mp4/.avi)."),
    jsonl: Path = typer.Option(None, help="JSON Lines: one object per frame."),
    show: bool = typer.Option(False, help="Show a window (needs a display)."),
    serve: str = typer.Option(None, help="MJPEG preview at http://HOST:PORT/."),
    duration: float = typer.Option(None, help="Stop after S seconds."),
    max_frames: int = typer.Option(None, help="Stop after N frames."),
    report: Path = typer.Option(None, help="Write the latency report JSON here."),
    conf: float = typer.Option(0.25, help="Minimum score."),
    classes: list[str] = typer.Option(None, "--classes", help="Keep only these class names or ids (repeatable)."),
    provider: str = typer.Option("cpu", help="cpu, cuda or tensorrt (ONNX Runtime execution providers)."),
    threads: int = typer.Option(None, help="ONNX Runtime intra-op threads."),
    json_out: bool = typer.Option(False, "--json", help="Print the report on stdout."),
) -> None:
    """Run a model on a live camera, stream or file: newest-frame-only for live sources, lossless for files.

    Examples:
      edgedet run model.onnx --source 0 --serve 127.0.0.1:8080
      edgedet run model.onnx --source video.mp4 --save out.mp4 --jsonl dets.jsonl --report report.json
      edgedet run model.onnx --source rtsp://camera/stream --duration 60 --report r.json
    """
    from edgedet.model_loader import load_detector
    from runtime.pipeline import StreamOptions, StreamState, run_stream
    from runtime.sinks import JsonlSink, MjpegServer, VideoSink, WindowSink
    from runtime.sources import open_source

    detector = load_detector(model, provider=provider, threads=threads)
    src = open_source(source)
    sinks = []
    try:
        if save:
            sinks.append(VideoSink(save, src.fps))
        if jsonl:
            sinks.append(JsonlSink(jsonl))
        if show:
            sinks.append(WindowSink())
        if serve:
            server = MjpegServer(*_parse_serve(serve))
            sinks.append(server)
            console.print(f"preview at {server.url}")
    except BaseException:
        for s in sinks:
            s.close()
        src.close()
        raise
    wanted = [int(c) if c.isdigit() else c for c in classes] if classes else None
    state = StreamState()

    def stop(signum, _frame) -> None:
        state.stop.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with console.status("starting") as status:
            def on_status(s: dict) -> None:
                status.update(f"{s['frames']} frames  {s['fps']:.1f} fps  e2e {s['e2e_ms']:.0f} ms  "
                              f"infer {s['inference_ms']:.0f} ms  dropped {s['dropped']}  outages {s['outages']}")

            result = run_stream(detector, src, sinks, StreamOptions(conf, wanted, duration, max_frames), state,
                                on_status)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if report:
        report.parent.mkdir(parents=True, exist_ok=True)
        tmp = report.with_name(f".{report.name}.tmp")
        tmp.write_text(json.dumps(result, indent=2))
        os.replace(tmp, report)
    e2e = result["e2e_ms"]
    console.print(f"{result['frames_processed']} frames ({result['frames_dropped']} dropped) at {result['fps']:.1f} "
                  f"fps; e2e p50 {e2e['p50']:.1f} ms p99 {e2e['p99']:.1f} ms"
                  + (f"; report {report}" if report else ""))
    if json_out:
        emit_json(result)
