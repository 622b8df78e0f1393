"""``edgedet run``: stream a source through a model into sinks, with a latency report."""

from __future__ import annotations

import signal
from pathlib import Path

import typer

from edgedet.cli.console import console, emit_json
from edgedet.cli.options import BackendOption, JsonOut, ModelFile, PrecisionOption, ProviderOption, Threads
from edgedet.runtime.detector import Precision
from edgedet.runtime.loader import Backend
from edgedet.runtime.onnx_detector import Provider


def _parse_serve(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not port.isdigit() or not 0 <= int(port) < 65536:
        raise typer.BadParameter(f"'{text}' is not HOST:PORT (e.g. 127.0.0.1:8080)", param_hint="'--serve'")
    return host or "127.0.0.1", int(port)


def run(
    model: ModelFile,
    source: str = typer.Option(..., "--source", "-s", help="Camera index, video file, image file/folder/glob, "
                               "rtsp:// or http(s):// URL (MJPEG too), or a GStreamer pipeline string."),
    save: Path | None = typer.Option(None, help="Annotated video (.mp4/.avi/.mkv)."),
    jsonl: Path | None = typer.Option(None, help="JSON Lines: one object per frame."),
    show: bool = typer.Option(False, help="Show a window (needs a display); q or Esc stops the run."),
    serve: str | None = typer.Option(None, help="MJPEG preview at http://HOST:PORT/."),
    duration: float | None = typer.Option(None, min=0.0, help="Stop after S seconds."),
    max_frames: int | None = typer.Option(None, min=1, help="Stop after N frames."),
    report: Path | None = typer.Option(None, help="Write the latency report JSON here."),
    conf: float = typer.Option(0.25, min=0.0, max=1.0, help="Minimum score."),
    classes: list[str] | None = typer.Option(None, "--classes",
                                                help="Keep only these class names or ids (repeatable)."),
    backend: BackendOption = Backend.auto,
    precision: PrecisionOption = Precision.fp32,
    provider: ProviderOption = Provider.cpu,
    threads: Threads = None,
    json_out: JsonOut = False,
) -> None:
    """Run a model on a live camera, stream or file: newest-frame-only for live sources, lossless for files.

    Examples:
      edgedet run model.onnx --source 0 --serve 127.0.0.1:8080
      edgedet run model.onnx --source video.mp4 --save out.mp4 --jsonl dets.jsonl --report report.json
      edgedet run model.onnx --source rtsp://camera/stream --duration 60 --report r.json
      edgedet run model.onnx --source 0 --backend openvino --precision bf16
    """
    from edgedet.cli.models import open_detector
    from edgedet.runtime.atomic import write_json
    from edgedet.runtime.errors import EdgedetError
    from edgedet.runtime.pipeline import StreamOptions, StreamState, run_stream
    from edgedet.runtime.sinks import JsonlSink, MjpegServer, VideoSink, WindowSink
    from edgedet.runtime.sources import open_source

    address = _parse_serve(serve) if serve else None
    detector = open_detector(model, provider=provider, threads=threads, backend=backend,
                       precision=precision.value)
    sinks = []
    try:
        src = open_source(source)
    except BaseException:
        detector.close()
        raise
    try:
        if save:
            sinks.append(VideoSink(save, src.fps))
        if jsonl:
            sinks.append(JsonlSink(jsonl))
        if show:
            sinks.append(WindowSink())
        if serve:
            server = MjpegServer(*address)
            sinks.append(server)
            console.print(f"preview at {server.url}")
    except BaseException:
        for s in sinks:
            s.close()
        src.close()
        detector.close()
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
                              f"infer {s['inference_ms']:.0f} ms  dropped {s['dropped']}  outages {s['outages']}  "
                              f"undecodable {s['decode_errors']}")

            result = run_stream(detector, src, sinks, StreamOptions(conf, wanted, duration, max_frames), state,
                                on_status)
    finally:
        detector.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if report:
        write_json(report, result)
    if result["frames_processed"] == 0 and (result["unreadable"] or result["decode_errors"] or result["ended_early"]):
        raise EdgedetError(f"no frame of '{source}' could be read ({result['unreadable']} unreadable files, "
                           f"{result['decode_errors']} undecodable frames)")
    e2e = result["e2e_ms"]
    skipped = [f"{result[k]} {what}" for k, what in (("unreadable", "unreadable files"),
                                                      ("decode_errors", "undecodable frames"), ("outages", "outages"))
               if result[k]]
    if result["ended_early"]:
        skipped.append(f"the video ended early ({result['frames_in']} of {result['frames_expected']} frames)")
    console.print(f"{result['frames_processed']} frames ({result['frames_dropped']} dropped) at {result['fps']:.1f} "
                  f"fps; e2e p50 {e2e['p50']:.1f} ms p99 {e2e['p99']:.1f} ms"
                  + (f"; {', '.join(skipped)}" if skipped else "") + (f"; report {report}" if report else ""))
    if json_out:
        emit_json(result)
