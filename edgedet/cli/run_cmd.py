"""``edgedet run``: stream a source through a model into sinks, with a latency report."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from edgedet.cli.console import console, emit_json
from edgedet.cli.options import (
    COUNT_AFTER,
    BackendOption,
    CountAfter,
    JsonOut,
    ModelFile,
    PrecisionOption,
    ProviderOption,
    RtspTransport,
    Threads,
    TrackerName,
    TrackParams,
    Transport,
)
from edgedet.runtime.detector import Precision
from edgedet.runtime.errors import EdgedetError
from edgedet.runtime.loader import Backend
from edgedet.runtime.onnx_detector import Provider
from edgedet.runtime.report import RunReport

if TYPE_CHECKING:
    from edgedet.runtime.sources import LiveOptions


@dataclass(frozen=True)
class PreviewSpec:
    """``--serve HOST:PORT`` and the token its viewers need (None: loopback only)."""

    host: str
    port: int
    token: str | None = None


def _parse_serve(text: str, token_file: Path | None) -> PreviewSpec:
    from edgedet.runtime.serve.access import check_bind, read_token

    host, _, port = text.rpartition(":")
    if not port.isdigit() or not 0 <= int(port) < 65536:
        raise typer.BadParameter(f"'{text}' is not HOST:PORT (e.g. 127.0.0.1:8080)", param_hint="'--serve'")
    spec = PreviewSpec(host or "127.0.0.1", int(port), read_token(token_file) if token_file else None)
    check_bind(spec.host, spec.token)  # before the model and the sources are opened
    return spec


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


def counting_specs(lines: list[str], zones: list[str], names: list[str]) -> tuple[tuple, tuple]:
    """``--line`` and ``--zone`` texts as specs, checked against the run's source names."""
    if not lines and not zones:
        return (), ()
    from edgedet.runtime.analytics import check_names, parse_line, parse_zone

    line_specs, zone_specs = tuple(parse_line(t) for t in lines), tuple(parse_zone(t) for t in zones)
    check_names(line_specs, zone_specs, names)
    return line_specs, zone_specs


def read_source_list(path: Path) -> list[str]:
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
    parallel: int = typer.Option(1, "--parallel", min=1, max=64, help="Batches inferred at once, each on its own "
                                 "thread (ONNX Runtime, OpenVINO). On a CPU, --parallel N --threads 1 keeps N cores "
                                 "busy as N separate runs would, with one model in memory."),
    save: str | None = typer.Option(None, help="Annotated video (.mp4/.avi/.mkv); with several sources a path "
                                    "holding '{source}', e.g. 'out/{source}.mp4'."),
    jsonl: Path | None = typer.Option(None, help="JSON Lines: one object per frame (with a 'source' field when "
                                      "there are several)."),
    show: bool = typer.Option(False, "--show/--no-show", metavar="",
                              help="Show a window (needs a display); q or Esc stops the run."),
    serve: str | None = typer.Option(None, help="MJPEG preview at http://HOST:PORT/ (any host but loopback "
                                     "needs --serve-token-file)."),
    serve_token_file: Path | None = typer.Option(None, "--serve-token-file", help="File with the token the "
                                                 "preview asks for (as ?token= or a bearer header)."),
    duration: float | None = typer.Option(None, min=0.0, help="Stop after S seconds."),
    max_frames: int | None = typer.Option(None, min=1, help="Stop after N frames."),
    report: Path | None = typer.Option(None, help="Write the latency report JSON here."),
    conf: float = typer.Option(0.25, min=0.0, max=1.0, help="Minimum score."),
    classes: list[str] | None = typer.Option(None, "--classes",
                                                help="Keep only these class names or ids (repeatable)."),
    track: TrackerName | None = typer.Option(None, "--track", help="Follow objects over time: each detection "
                                            "gets its track's id (JSON Lines, --json, drawn)."),
    track_param: TrackParams = None,
    detect_every: int = typer.Option(1, "--detect-every", min=1, max=100, metavar="N",
                                     help="Detect on one frame in N per source; the tracker's motion model "
                                     "carries the boxes between (marked predicted). Tracks with bytetrack "
                                     "unless --track names another."),
    line: list[str] | None = typer.Option(None, "--line", metavar="[SOURCE:]NAME=X1,Y1,X2,Y2",
                                          help="Count the tracks crossing this segment (frame pixels), per class "
                                          "and direction (repeatable; SOURCE: for one source only). Tracks with "
                                          "bytetrack unless --track names another."),
    zone: list[str] | None = typer.Option(None, "--zone", metavar="[SOURCE:]NAME=X1,Y1,X2,Y2,X3,Y3,...",
                                          help="Watch this polygon: occupancy, entries, exits, dwell time "
                                          "(repeatable, like --line)."),
    count_after: CountAfter = COUNT_AFTER,
    ray: str | None = typer.Option(None, "--ray", metavar="ADDRESS", help="Spread the sources over a Ray "
                                   "cluster: 'auto' (running), 'local' (start one) or HOST:PORT (extra 'cluster')."),
    workers: int | None = typer.Option(None, "--workers", min=1, help="With --ray: worker processes, each "
                                       "batching its share of the sources (default: one per node)."),
    rtsp_transport: RtspTransport = Transport.auto,
    stall_timeout: float = typer.Option(2.0, "--stall-timeout", min=0.1, metavar="S", help="A live stream with "
                                        "no frame for S seconds is lost: it is reconnected (counted as an outage)."),
    give_up_after: float | None = typer.Option(None, "--give-up-after", min=0.0, metavar="S", help="A live "
                                               "stream down for S seconds ends (default: retry for ever)."),
    verbose: bool = typer.Option(False, "--verbose/--no-verbose", metavar="",
                                 help="Let OpenCV and FFmpeg print their own log lines "
                                 "(off by default: the run says what happened in its own words)."),
    backend: BackendOption = Backend.auto,
    precision: PrecisionOption = Precision.fp32,
    provider: ProviderOption = Provider.cpu,
    threads: Threads = None,
    json_out: JsonOut = False,
) -> None:
    """Run a model on cameras, streams or files, several batched together.

    Live sources keep only their newest frame; files are read losslessly. A lost
    camera or stream is reconnected with backoff, said in one line each way.
    RTSP goes through GStreamer where its Python bindings are installed (the
    camera's own clock then times e2e), else through OpenCV's FFmpeg.

    Examples:
      edgedet run model.onnx --source 0 --serve 127.0.0.1:8080
      edgedet run model.onnx -s video.mp4 --save out.mp4 --jsonl dets.jsonl
      edgedet run model.onnx -s rtsp://cam/stream --duration 60 --report r.json
      edgedet run model.onnx -s rtsp://cam/stream --rtsp-transport tcp --give-up-after 60
      edgedet run model.onnx -s 'videotestsrc is-live=true ! video/x-raw,width=640,height=480 ! appsink'
      edgedet run model.onnx -s 0 --backend openvino --precision bf16
      edgedet run model.onnx -s a.mp4 -s b.mp4 --save 'out/{source}.mp4'
      edgedet run model.onnx -s a.mp4 -s b.mp4 --parallel 2 --threads 1
      edgedet run model.onnx --sources cams.txt --ray auto --jsonl d.jsonl
      edgedet run model.onnx -s video.mp4 --track bytetrack --save tracked.mp4
      edgedet run model.onnx -s video.mp4 --line door=0,300,640,300 --jsonl events.jsonl
      edgedet run model.onnx -s a.mp4 -s b.mp4 --zone b:lot=10,10,200,10,200,150,10,150
      edgedet run model.onnx -s 0 --track bytetrack --detect-every 3
    """
    from edgedet.runtime.atomic import write_json
    from edgedet.runtime.engine import StreamOptions

    specs = list(source) + (read_source_list(sources) if sources else [])
    if not specs:
        raise EdgedetError("no source: give --source (repeatable) or --sources FILE")
    if save and len(specs) > 1 and "{source}" not in save:
        raise EdgedetError(f"--save '{save}' names one file for {len(specs)} sources: put '{{source}}' in it, "
                           "e.g. 'out/{source}.mp4'")
    if serve_token_file and not serve:
        raise EdgedetError("--serve-token-file guards the preview: give --serve HOST:PORT too")
    address = _parse_serve(serve, serve_token_file) if serve else None
    wanted = [int(c) if c.isdigit() else c for c in classes] if classes else None
    if track_param and not track:
        raise EdgedetError("--track-param sets a tracker's parameter: give --track too")
    lines, zones = counting_specs(line or [], zone or [], source_names(specs))
    if (lines or zones or detect_every > 1) and not track:
        track = TrackerName.bytetrack  # lines and zones count objects, predicted boxes come from tracks
    spec = None
    if track:
        from edgedet.runtime.tracking import TrackerSpec, parse_params

        spec = TrackerSpec(track.value, parse_params(track_param or []))
        spec.make()  # a bad parameter is refused before any model or source opens
    from edgedet.runtime.sources import LiveOptions

    if verbose:
        from edgedet.runtime.library_logs import keep_library_logs

        keep_library_logs()
    live = LiveOptions(rtsp_transport.value, stall_timeout, give_up_after)
    options = StreamOptions(conf, wanted, duration, max_frames, parallel=parallel, track=spec, lines=lines,
                            zones=zones, count_after=count_after, detect_every=detect_every, live=live)
    if workers and not ray:
        raise EdgedetError("--workers spreads sources over a Ray cluster: give --ray too")
    if show:
        from edgedet.runtime.sinks import window_problem

        problem = window_problem()
        if problem is not None:  # before any model or source opens; --serve needs no GUI and no display
            raise EdgedetError(f"--show cannot open a window: {problem}; watch the run in a browser with "
                               "--serve 127.0.0.1:8090 instead")
    if ray:
        result = run_cluster(model, specs, options, batch, ray, workers, save, jsonl, show, address,
                             backend.value, precision.value, provider.value, threads)
    else:
        result = run_here(model, specs, options, batch, save, jsonl, show, address, backend, precision, provider,
                          threads)
    if report:
        write_json(report, result.to_json())
    summarize_run(result, specs, report)
    if json_out:
        emit_json(result.to_json())


def run_here(model: Path, specs: list[str], options, batch: int | None, save: str | None, jsonl: Path | None,
             show: bool, address: PreviewSpec | None, backend: Backend, precision: Precision,
             provider: Provider, threads: int | None) -> RunReport:
    """The sources in this process, on the one stream engine (a single source is a group of one)."""
    from edgedet.cli.models import open_detector
    from edgedet.runtime.engine import StreamState, run_engine, warm_up

    detector = open_detector(model, provider=provider, threads=threads, backend=backend,
                             precision=precision.value, spin=False,  # the engine's other threads need the cores
                             streams=options.parallel)
    try:
        warm_up(detector, options.parallel)  # before the cameras open: nothing is dropped while it compiles
        streams, shared = open_streams(specs, save, jsonl, show, address, options.live)
    except BaseException:
        detector.close()
        raise
    state = StreamState()
    try:
        with stop_on_signals(state), console.status("starting") as status:
            return run_engine(detector, streams, options, batch, state, lambda s: status.update(s.line()), shared)
    finally:
        detector.close()


def run_cluster(model: Path, specs: list[str], options, batch: int | None, address: str, workers: int | None,
                save: str | None, jsonl: Path | None, show: bool, serve: PreviewSpec | None, backend: str,
                precision: str, provider: str, threads: int | None) -> RunReport:
    """The sources on Ray workers; the sinks and the report here (``edgedet.runtime.cluster``)."""
    from edgedet.runtime.cluster import ClusterModel, RemoteStream, run_on_ray
    from edgedet.runtime.engine import StreamState
    from edgedet.runtime.model_files import CHECKPOINT_SUFFIXES, require_model_file

    model = require_model_file(model)
    if model.suffix.lower() in CHECKPOINT_SUFFIXES:
        raise EdgedetError(f"'{model}' is a PyTorch checkpoint: --ray runs exported files (edgedet export)")
    import ray  # noqa: F401  (the 'cluster' extra: a missing one is named before any file is opened)

    names = source_names(specs)
    sinks, shared = open_sinks(names, [None] * len(names), save, jsonl, show, serve)
    # workers do not share our working folder: a path that exists here goes as an absolute path
    located = [str(Path(spec).resolve()) if Path(spec).exists() else spec for spec in specs]
    streams = [RemoteStream(name, spec, own) for name, spec, own in zip(names, located, sinks)]
    state = StreamState()
    with stop_on_signals(state), console.status("starting Ray workers") as status:
        return run_on_ray(ClusterModel(model, backend, precision, provider, threads), streams, options, batch,
                          address, workers, state, lambda s: status.update(s.line()), shared)


@contextmanager
def stop_on_signals(state) -> Iterator[None]:
    """Ctrl-C and SIGTERM end the run cleanly (sinks closed, report written), not with a traceback."""
    def stop(signum, _frame) -> None:
        state.stop.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def summarize_run(result: RunReport, specs: list[str], report: Path | None) -> None:
    """One line: frames, drops, fps, latency and what went wrong; exit 2 when no frame could be read."""
    unreadable, undecodable = result.total("unreadable"), result.total("decode_errors")
    if result.frames_processed == 0 and (unreadable or undecodable or result.ended_early):
        raise EdgedetError(f"no frame of '{', '.join(specs)}' could be read ({unreadable} unreadable files, "
                           f"{undecodable} undecodable frames)")
    skipped = [f"{count} {what}" for count, what in ((unreadable, "unreadable files"),
                                                      (undecodable, "undecodable frames"),
                                                      (result.total("outages"), "outages")) if count]
    gave_up = [entry.name for entry in result.sources if entry.health.gave_up]
    if gave_up:
        skipped.append(f"gave up on {', '.join(gave_up)} (down past --give-up-after)")
    if result.ended_early:
        skipped.append(f"the video ended early ({result.total('frames_in')} of {result.frames_expected} frames)")
    console.print(f"{result.frames_processed} frames ({result.total('frames_dropped')} dropped) at {result.fps:.1f} "
                  f"fps; e2e p50 {result.e2e_ms.p50:.1f} ms p99 {result.e2e_ms.p99:.1f} ms"
                  + (f"; {', '.join(skipped)}" if skipped else "") + (f"; report {report}" if report else ""))
    for entry in result.sources:
        if entry.analytics is not None:
            counts = [f"{t.line} in {t.crossed_in} out {t.crossed_out}" for t in entry.analytics.lines]
            counts += [f"{t.zone} {t.entries} entries {t.exits} exits (max {t.max_occupancy} inside)"
                       for t in entry.analytics.zones]
            console.print(f"{entry.name}: " + "; ".join(counts))
    if result.ray and result.ray.restarts:
        died = [w for w in result.ray.workers if w.status == "died"]
        console.print(f"{len(died)} Ray worker(s) died; their sources restarted {result.ray.restarts} time(s), "
                      "files resumed at their first missing frame (see the report's 'restarts')")


def open_streams(specs: list[str], save: str | None, jsonl: Path | None, show: bool,
                 address: PreviewSpec | None, live: LiveOptions | None = None) -> tuple[list, list]:
    """One ``Stream`` per source with its sinks (``open_sinks``); everything opened so far is closed on
    failure."""
    from edgedet.runtime.engine import Stream
    from edgedet.runtime.sources import LiveOptions, open_source

    live = live or LiveOptions()
    streams: list[Stream] = []
    try:
        for name, spec in zip(source_names(specs), specs):
            streams.append(Stream(name, open_source(spec, live, name)))
        sinks, shared = open_sinks([s.name for s in streams], [s.source.fps for s in streams], save, jsonl, show,
                                   address)
    except BaseException:
        for stream in streams:
            stream.close()
        raise
    for stream, own in zip(streams, sinks):
        stream.sinks = own
    return streams, shared


def open_sinks(names: list[str], fps: list[float | None], save: str | None, jsonl: Path | None, show: bool,
               address: PreviewSpec | None) -> tuple[list[list], list]:
    """Each source's sinks: its own video, its lines in the shared JSON Lines file, its window, its tile
    in the preview; and the shared sinks, closed after every stream (none when there is one source,
    which owns its sinks). Everything opened so far is closed on failure."""
    from edgedet.runtime.grid import GridPreview
    from edgedet.runtime.preview_server import MjpegServer
    from edgedet.runtime.sinks import JsonlSink, VideoSink, WindowSink

    single = len(names) == 1
    per_source: list[list] = [[] for _ in names]
    shared = []
    try:
        log = JsonlSink(jsonl) if jsonl else None
        shared += [log] if log else []
        server = MjpegServer(address.host, address.port, token=address.token) if address else None
        shared += [server] if server else []
        grid = GridPreview(server, names) if server and not single else None
        for name, rate, own in zip(names, fps, per_source):
            if save:
                own.append(VideoSink(save.format(source=name), rate))
            if log:
                own.append(log if single else log.for_source(name))
            if show:
                own.append(WindowSink(f"edgedet: {name}"))
            if server:
                own.append(server if single else grid.for_source(name))
        if server:
            console.print(f"preview at {server.url}")
        return per_source, ([] if single else shared)
    except BaseException:
        for sink in [x for own in per_source for x in own if x not in shared] + shared:
            sink.close()
        raise
