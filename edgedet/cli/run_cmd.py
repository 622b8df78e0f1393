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


def source_names(specs: list[str]) -> list[str]:
    """A short unique name per source, for ``{source}`` in paths and the JSON Lines ``source`` field:
    a file's or folder's stem, ``cam0`` for a camera index, a URL's last path part or host."""
    names = []
    for spec in specs:
        text = spec.strip().rstrip("/")
        if text.isdigit():
            name = f"cam{text}"
        elif "://" in text:
            rest = text.split("://", 1)[1]
            name = rest.rsplit("/", 1)[-1] if "/" in rest else rest
        else:
            name = Path(text).stem or "source"
        name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name) or "source"
        names.append(name)
    seen: dict[str, int] = {}
    for i, name in enumerate(names):  # duplicates: cam, cam-2, cam-3
        if names.count(name) > 1:
            seen[name] = seen.get(name, 0) + 1
            names[i] = f"{name}-{seen[name]}"
    return names


def read_source_list(path: Path) -> list[str]:
    from edgedet.runtime.errors import EdgedetError

    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise EdgedetError(f"cannot read --sources '{path}' ({exc.strerror})") from None
    return [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]


def run(
    model: ModelFile,
    source: list[str] = typer.Option([], "--source", "-s", help="Camera index, video file, image file/folder/glob, "
                                     "rtsp:// or http(s):// URL (MJPEG too), or a GStreamer pipeline; repeat for "
                                     "several streams."),
    sources: Path | None = typer.Option(None, "--sources", help="A file with one source per line ('#' comments)."),
    batch: int | None = typer.Option(None, "--batch", min=1, help="Several sources: frames per inference call at "
                                     "most (default: one per source; a fixed-batch file uses its batch)."),
    save: str | None = typer.Option(None, help="Annotated video (.mp4/.avi/.mkv); with several sources a path "
                                    "holding '{source}', e.g. 'out/{source}.mp4'."),
    jsonl: Path | None = typer.Option(None, help="JSON Lines: one object per frame (with a 'source' field when "
                                      "there are several)."),
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
    """Run a model on cameras, streams or files, several batched together.

    Live sources keep only their newest frame; files are read losslessly.

    Examples:
      edgedet run model.onnx --source 0 --serve 127.0.0.1:8080
      edgedet run model.onnx -s video.mp4 --save out.mp4 --jsonl dets.jsonl
      edgedet run model.onnx -s rtsp://cam/stream --duration 60 --report r.json
      edgedet run model.onnx -s 0 --backend openvino --precision bf16
      edgedet run model.onnx -s a.mp4 -s b.mp4 --save 'out/{source}.mp4'
    """
    from edgedet.cli.models import open_detector
    from edgedet.runtime.atomic import write_json
    from edgedet.runtime.errors import EdgedetError
    from edgedet.runtime.multistream import run_streams
    from edgedet.runtime.pipeline import StreamOptions, StreamState, run_stream

    specs = list(source) + (read_source_list(sources) if sources else [])
    if not specs:
        raise EdgedetError("no source: give --source (repeatable) or --sources FILE")
    if save and len(specs) > 1 and "{source}" not in save:
        raise EdgedetError(f"--save '{save}' names one file for {len(specs)} sources: put '{{source}}' in it, "
                           "e.g. 'out/{source}.mp4'")
    address = _parse_serve(serve) if serve else None
    detector = open_detector(model, provider=provider, threads=threads, backend=backend,
                             precision=precision.value)
    try:
        streams, shared = open_streams(specs, save, jsonl, show, address)
    except BaseException:
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

            options = StreamOptions(conf, wanted, duration, max_frames)
            if len(streams) == 1:
                result = run_stream(detector, streams[0].source, streams[0].sinks, options, state, on_status)
            else:
                result = run_streams(detector, streams, options, batch, state, on_status, shared)
    finally:
        detector.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if report:
        write_json(report, result)
    if result["frames_processed"] == 0 and (result["unreadable"] or result["decode_errors"] or result["ended_early"]):
        raise EdgedetError(f"no frame of '{', '.join(specs)}' could be read ({result['unreadable']} unreadable files, "
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


def open_streams(specs: list[str], save: str | None, jsonl: Path | None, show: bool,
                 address: tuple[str, int] | None) -> tuple[list, list]:
    """One ``Stream`` per source with its sinks: its own video, its lines in the shared JSON Lines
    file, its window, its tile in the preview; everything opened so far is closed on failure."""
    from edgedet.runtime.grid import GridPreview
    from edgedet.runtime.multistream import Stream
    from edgedet.runtime.sinks import JsonlSink, MjpegServer, VideoSink, WindowSink
    from edgedet.runtime.sources import open_source

    names = source_names(specs)
    streams: list[Stream] = []
    shared = []
    try:
        for name, spec in zip(names, specs):
            streams.append(Stream(name, open_source(spec)))
        single = len(streams) == 1
        log = JsonlSink(jsonl) if jsonl else None
        server = MjpegServer(*address) if address else None
        shared += [s for s in (log, server) if s is not None]
        grid = GridPreview(server, names) if server and not single else None
        for stream in streams:
            if save:
                stream.sinks.append(VideoSink(save.format(source=stream.name), stream.source.fps))
            if log:
                stream.sinks.append(log if single else log.for_source(stream.name))
            if show:
                stream.sinks.append(WindowSink(f"edgedet: {stream.name}"))
            if server:
                stream.sinks.append(server if single else grid.for_source(stream.name))
        if server:
            console.print(f"preview at {server.url}")
        return streams, ([] if single else shared)  # one stream owns its sinks; shared ones close last
    except BaseException:
        for stream in streams:
            stream.close()
        for sink in shared:
            sink.close()
        raise
