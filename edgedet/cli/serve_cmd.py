"""``edgedet serve``."""

from __future__ import annotations

import signal
from pathlib import Path

import typer

from edgedet.cli.console import console
from edgedet.cli.options import BackendOption, ModelFile, PrecisionOption, ProviderOption, Threads
from edgedet.runtime.detector import Precision
from edgedet.runtime.errors import EdgedetError
from edgedet.runtime.loader import Backend
from edgedet.runtime.onnx_detector import Provider


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


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
