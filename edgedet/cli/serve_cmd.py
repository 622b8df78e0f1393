"""``edgedet serve``."""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from edgedet.cli.console import console
from edgedet.cli.options import BackendOption, ModelFile, PrecisionOption, ProviderOption, Threads
from edgedet.runtime.detector import Precision
from edgedet.runtime.errors import EdgedetError
from edgedet.runtime.loader import Backend
from edgedet.runtime.onnx_detector import Provider

if TYPE_CHECKING:  # the serve extra, imported when the command runs
    from edgedet.runtime.serve.app import ServeSettings


def serve(
    model: ModelFile,
    host: str = typer.Option("127.0.0.1", help="Address to listen on; any but loopback needs --token-file."),
    port: int = typer.Option(8080, min=1, max=65535, help="TCP port."),
    token_file: Path | None = typer.Option(None, "--token-file", help="File holding the bearer token every "
                                           "request but /healthz must send (one word, at least 16 characters)."),
    max_body_mb: float = typer.Option(20.0, min=0.01, help="Largest request body, in MiB (413 past it)."),
    max_pixels: int = typer.Option(40_000_000, min=1, help="Largest image, in pixels, read from its header "
                                   "before decoding (413 past it)."),
    max_images: int = typer.Option(16, min=1, help="Most images in one request."),
    batch_window_ms: float = typer.Option(0.0, min=0.0, help="How long a request waits for others to share "
                                          "its inference call (0: it shares with those that queued while the "
                                          "last call ran)."),
    max_batch: int = typer.Option(8, min=1, help="Most images in one inference call (a fixed-batch model's "
                                  "own batch wins)."),
    allow_source: list[str] | None = typer.Option(None, "--allow-source", metavar="PATTERN", help="Sources "
                                                  "/v1/streams may open, shell-style, repeatable (default: camera "
                                                  "indices and rtsp/http(s) URLs), e.g. 'rtsp://10.0.0.*'."),
    media_root: Path | None = typer.Option(None, "--media-root", help="Local video files /v1/streams may open "
                                           "(paths under this folder only; default: none)."),
    out: Path | None = typer.Option(None, "--out", help="Folder a stream's 'save' video goes to (paths under "
                                    "it only; default: no saving)."),
    ray: str | None = typer.Option(None, "--ray", metavar="ADDRESS", help="Deploy on a running Ray cluster as a "
                                   "Ray Serve application ('auto' or host:port): replicas spread over its nodes, "
                                   "each node's Serve proxy on --host/--port. Streams are refused there (501)."),
    replicas: int | None = typer.Option(None, "--replicas", min=1, help="With --ray: replicas, each with its own "
                                        "detector (default: one per live node)."),
    backend: BackendOption = Backend.auto,
    precision: PrecisionOption = Precision.fp32,
    provider: ProviderOption = Provider.cpu,
    threads: Threads = None,
) -> None:
    """Serve a model over HTTP: POST images to /v1/detect, add and remove cameras at /v1/streams,
    scrape /metrics with Prometheus.

    Binds to 127.0.0.1 unless told otherwise, and refuses any other address without a token.
    The API is listed at /docs; Ctrl-C stops the server.

    Examples:

      edgedet serve model.onnx --port 8080

      curl -s --data-binary @street.jpg -H 'Content-Type: image/jpeg' 'http://127.0.0.1:8080/v1/detect?conf=0.5'

      curl -s -X POST -d '{"source": "rtsp://10.0.0.7/live", "name": "door", "track": "bytetrack"}' http://127.0.0.1:8080/v1/streams

      curl -s http://127.0.0.1:8080/v1/streams/door; curl -s -X DELETE http://127.0.0.1:8080/v1/streams/door

      openssl rand -hex 32 > token && edgedet serve model.onnx --host 0.0.0.0 --token-file token

      edgedet serve model.onnx --ray 10.0.0.2:6379 --replicas 4 --host 0.0.0.0 --token-file token
    """
    from edgedet.cli.models import open_detector
    from edgedet.runtime.install_hints import missing

    try:
        import uvicorn

        from edgedet.runtime.serve.access import check_bind, read_token
        from edgedet.runtime.serve.app import ServeSettings, build_app
        from edgedet.runtime.serve.source_policy import DEFAULT_ALLOWED, SourcePolicy
    except ImportError as exc:
        raise missing("serving over HTTP", exc.name or "fastapi") from None
    token = read_token(token_file) if token_file is not None else None
    check_bind(host, token)
    settings = ServeSettings(token=token, max_body_bytes=int(max_body_mb * 2**20), max_pixels=max_pixels,
                             max_images=max_images, window_s=batch_window_ms / 1000, max_batch=max_batch)
    for folder, flag in ((media_root, "--media-root"), (out, "--out")):
        if folder is not None and not folder.is_dir():
            raise EdgedetError(f"{flag} '{folder}' is not a folder: give an existing one")
    if replicas is not None and ray is None:
        raise EdgedetError("--replicas is the number of Ray Serve replicas: give --ray too")
    if ray is not None:
        if media_root is not None or out is not None or allow_source:
            raise EdgedetError("--allow-source, --media-root and --out are for streams, which a Ray Serve "
                               "deployment does not run: drop them, or serve without --ray")
        serve_on_ray(model, ray, replicas, settings, host, port, backend.value, precision.value, provider.value,
                     threads)
        return
    policy = SourcePolicy(tuple(allow_source) if allow_source else DEFAULT_ALLOWED, media_root, out)
    with open_detector(model, provider=provider, threads=threads, backend=backend,
                       precision=precision.value) as detector:
        config = uvicorn.Config(build_app(detector, settings, policy), host=host, port=port, log_level="warning",
                                access_log=False, lifespan="on")
        server = uvicorn.Server(config)
        guard = "token required" if token else "no token: loopback only"
        console.print(f"serving {model} at http://{host}:{port} ({guard}); the API is at /docs")
        # uvicorn shuts down gracefully on SIGINT and SIGTERM, then raises the signal again for the handler
        # that was there before it: here, one that ends the command normally (a stop is not a failure)
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            server.run()
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
        if server.started:
            console.print("stopped")
        if not server.started:
            raise EdgedetError(f"cannot listen on {host}:{port}: the port is taken or the address is not this "
                               "machine's; pick another port")


def serve_on_ray(model: Path, address: str, replicas: int | None, settings: ServeSettings, host: str, port: int,
                 backend: str, precision: str, provider: str, threads: int | None) -> None:
    """The API as a Ray Serve application until Ctrl-C or SIGTERM; then the application is removed (the
    cluster, and Serve with any other application of its, go on)."""
    import threading

    from edgedet.runtime.install_hints import missing
    from edgedet.runtime.model_files import CHECKPOINT_SUFFIXES, require_model_file

    model = require_model_file(model)
    if model.suffix.lower() in CHECKPOINT_SUFFIXES:
        raise EdgedetError(f"'{model}' is a PyTorch checkpoint: --ray serves exported files (edgedet export)")
    try:
        from edgedet.runtime.cluster import ClusterModel, alive_nodes, connect
        from edgedet.runtime.serve.ray_deploy import deploy, undeploy
    except ImportError:  # Ray, or one of Ray Serve's own packages that ray[serve] brings
        raise missing("serving on a Ray cluster", "ray") from None
    connect(address)
    logging.getLogger("ray.serve").setLevel(logging.WARNING)  # Serve's INFO lines are not the user's
    count = replicas or alive_nodes()
    with console.status(f"starting {count} Ray Serve replica(s)"):
        try:
            held = deploy(ClusterModel(model, backend, precision, provider, threads), settings, count, host, port)
        except RuntimeError as exc:
            raise EdgedetError(f"the Ray Serve replicas did not start ({exc}): see Ray's logs for more") from None
    # only now: Ray's core worker sets its own SIGINT/SIGTERM handling while Serve starts
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        guard = "token required" if settings.token else "no token: loopback only"
        console.print(f"serving {model} on Ray at http://{host}:{port} ({count} replica(s), {guard}); the API is "
                      "at /docs")
        while not stop.wait(0.5):
            pass
    finally:
        undeploy()
        del held
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    console.print("stopped")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
