"""The service's HTTP API (FastAPI): ``POST /v1/detect``, ``/v1/streams`` (add, list, read, remove the
cameras the engine runs), ``GET /metrics``, ``/healthz``, ``/readyz``, and the OpenAPI page at ``/docs``.

Every answer that is not a success is JSON ``{"error": "..."}`` with a 4xx status that says what was wrong
(a 500 only for a bug, without a traceback in the body). A bearer token, when set, guards every path but
``/healthz``; the guard is the outermost layer, so an unauthenticated request reads nothing, not even the
OpenAPI schema."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import parse_qs

import numpy as np
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edgedet.runtime.detections import Detections
from edgedet.runtime.detector import BackendInfo, Detector
from edgedet.runtime.serve.access import OPEN_PATHS, authorized
from edgedet.runtime.serve.batcher import DynamicBatcher
from edgedet.runtime.serve.feeds import BOUNDARY, Fanout
from edgedet.runtime.serve.metrics import ServeMetrics
from edgedet.runtime.serve.refusal import Refused
from edgedet.runtime.serve.source_policy import SourcePolicy
from edgedet.runtime.serve.stream_body import StreamBody, stream_request
from edgedet.runtime.serve.streams import StreamService
from edgedet.runtime.serve.upload import BadUpload, Upload, decode

REMOVE_WAIT_S = 10.0  # at most this long for the engine to close a removed stream before its report

ENDPOINTS = frozenset({"/v1/detect", "/v1/streams", "/metrics", "/healthz", "/readyz", "/docs", "/openapi.json"})
ONE_STREAM = "/v1/streams/{name}"  # the metrics' label for every stream's own paths
MAX_STREAM_BODY = 64 * 1024
ASSETS = "/docs/assets"  # Swagger UI's files, from the fastapi-offline package: an edge box has no CDN


@dataclass(frozen=True)
class ServeSettings:
    token: str | None = None  # None: no token (loopback only, ``access.check_bind``)
    max_body_bytes: int = 20 * 2**20
    max_pixels: int = 40_000_000  # per image, read from its header before decoding
    max_images: int = 16  # per request
    window_s: float = 0.0  # how long a batch waits for more requests (0: it takes what queued meanwhile)
    max_batch: int = 8  # images per inference call, when the model does not fix it


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class Guard:
    """Outermost ASGI layer: the token check, then the request metrics (by known endpoint, so a scan of
    random paths cannot grow the label set)."""

    def __init__(self, app: ASGIApp, token: str | None, metrics: ServeMetrics) -> None:
        self.app, self.token, self.metrics = app, token, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, path = time.perf_counter(), scope["path"]
        status = 500

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1") or None
        if header is None and path.startswith("/v1/streams/") and path.endswith("/preview"):
            # an <img> cannot send a header: the preview takes the token as ?token= too (as run --serve's does)
            given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[0]
            header = f"Bearer {given}" if given else None
        try:
            if path not in OPEN_PATHS and not authorized(header, self.token):
                await error(401, "a valid bearer token is needed: send 'Authorization: Bearer <token>'",
                            {"WWW-Authenticate": "Bearer"})(scope, receive, record)
            else:
                await self.app(scope, receive, record)
        finally:
            endpoint = (path if path in ENDPOINTS else ASSETS if path.startswith(ASSETS + "/")
                        else ONE_STREAM if path.startswith("/v1/streams/") else "other")
            self.metrics.answered(endpoint, status, time.perf_counter() - start)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused (413) as soon as it is known to pass ``limit``: by its declared length, or while
    it streams in when it declares none."""
    too_big = BadUpload(413, f"the body is over this server's limit of {limit} bytes")
    declared = request.headers.get("content-length")
    if declared is not None and not declared.isdigit():
        raise BadUpload(400, "the Content-Length header is not a number")
    if declared is not None and int(declared) > limit:
        raise too_big
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


async def uploads(request: Request, settings: ServeSettings, name: str) -> list[Upload]:
    """The request's images: a raw image body, or the files of a multipart form."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await read_body(request, settings.max_body_bytes)
    if kind.startswith("image/") or kind in ("application/octet-stream", ""):
        return [decode(name, body, settings.max_pixels)]
    if kind != "multipart/form-data":
        raise BadUpload(415, f"a body of type '{kind}' is not an image: send image/jpeg, image/png or "
                             "multipart/form-data")

    async def replay() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    form = await Request(request.scope, replay).form(max_files=settings.max_images, max_fields=settings.max_images)
    files = [value for _, value in form.multi_items() if not isinstance(value, str)]
    if not files:
        raise BadUpload(400, "the form has no image files: send each image as a file field")
    return [decode(f.filename or f"image{i}", await f.read(), settings.max_pixels) for i, f in enumerate(files)]


def wanted_classes(text: str | None, names: tuple[str, ...]) -> list[int | str] | None:
    if text is None:
        return None
    picked: list[int | str] = []
    for item in (part.strip() for part in text.split(",")):
        if item.isdigit() and 0 < int(item) < len(names):
            picked.append(int(item))
        elif item in names[1:]:
            picked.append(item)
        else:
            raise BadUpload(400, f"'{item}' is not one of this model's classes: {', '.join(names[1:])}")
    return picked


def relay(feed: Fanout, media_type: str) -> StreamingResponse:
    """A feed to one client, until the stream ends or the client leaves (Starlette cancels the generator)."""
    client = feed.subscribe()

    async def items() -> AsyncIterator[bytes]:
        try:
            while (item := await client.get()) is not None:
                yield item
        finally:
            feed.unsubscribe(client)

    return StreamingResponse(items(), media_type=media_type, headers={"Cache-Control": "no-store"})


class ServedModel(Protocol):
    """What the API reads of the model it serves: a ``Detector``, or a Ray Serve replica's facts."""

    class_names: tuple[str, ...]
    canvas: tuple[int, int]
    fill: int
    fixed_batch: int | None
    max_batch: int | None

    def describe(self) -> BackendInfo: ...


class Batcher(Protocol):
    """Where ``/v1/detect`` sends its images: ``DynamicBatcher`` here, or a Ray Serve replica's."""

    @property
    def depth(self) -> int: ...

    def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def detect(self, images: Sequence[np.ndarray]) -> list[Detections]: ...


def batch_limit(model: ServedModel, settings: ServeSettings) -> int:
    """Images per inference call: a fixed-batch model's own batch, else the smaller of the model's and ours."""
    return model.fixed_batch or min(model.max_batch or settings.max_batch, settings.max_batch)


async def warm_up(batcher: Batcher, model: ServedModel, settings: ServeSettings) -> None:
    """Every batch size a request can land in, twice: ONNX Runtime plans memory per input shape on a
    shape's first run and allocates that plan from its second, so the process reaches its working size
    before the first request instead of growing by ~50 % under mixed load (measured: demo model)."""
    blank = np.full((*model.canvas, 3), model.fill, np.uint8)
    limit = batch_limit(model, settings)
    for size in ([limit] if model.fixed_batch else range(1, limit + 1)):
        for _ in range(2):
            await batcher.detect([blank] * size)


def local_batcher(detector: Detector, settings: ServeSettings, metrics: ServeMetrics | None) -> DynamicBatcher:
    return DynamicBatcher(detector, batch_limit(detector, settings), settings.window_s,
                          metrics.inference if metrics is not None else None)


def build_app(detector: ServedModel, settings: ServeSettings, policy: SourcePolicy | None = None,
              streams_refusal: str | None = None, batcher: Batcher | None = None) -> ASGIApp:
    """The API over ``detector`` (which the caller opens and closes); ``policy``: which sources and save
    paths a client may name in ``/v1/streams``; ``streams_refusal``: why this server runs no streams (every
    ``POST /v1/streams`` is a 501 that says so); ``batcher``: where detection runs, when not on
    ``detector`` in this process (which must then be a ``Detector``)."""
    state = {"ready": False}
    local = isinstance(detector, Detector)
    streams = StreamService(detector if local else None, policy or SourcePolicy(), refusal=streams_refusal)
    metrics = ServeMetrics(lambda: batcher.depth, streams.roster.present)  # read at scrape time
    if batcher is None:
        if not local:
            raise TypeError("a model that is not a Detector in this process needs its own batcher")
        batcher = local_batcher(detector, settings, metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        await warm_up(batcher, detector, settings)
        streams.start()
        state["ready"] = True
        yield
        await asyncio.to_thread(streams.stop)
        await batcher.stop()

    app = FastAPIOffline(title="edgedet", summary="Faster R-CNN detections over HTTP", lifespan=lifespan,
                         docs_url="/docs", redoc_url=None, static_url=ASSETS)

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> JSONResponse:
        return error(exc.status, exc.message)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 404 and exc.detail == "Not Found":
            return error(404, f"no endpoint at '{request.url.path}': the API is listed at /docs")
        if exc.status_code == 405:
            return error(405, f"'{request.url.path}' does not take {request.method}")
        return error(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "body"))
        return error(400, f"{where}: {first.get('msg', 'invalid')}")

    @app.get("/healthz", summary="Liveness: the process answers")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness: the model is loaded and has run once")
    async def readyz() -> JSONResponse:
        if not state["ready"]:
            return error(503, "the model is still warming up")
        info = detector.describe()
        return JSONResponse({"status": "ready", "model": info.model, "architecture": info.architecture,
                             "backend": info.backend, "classes": list(detector.class_names[1:])})

    @app.post("/v1/detect", summary="Detect on one image (raw body) or several (multipart form)")
    async def detect(request: Request, conf: float = Query(0.25, ge=0.0, le=1.0),
                     classes: str | None = Query(None, description="Comma-separated class ids or names"),
                     name: str = Query("image", max_length=200, description="The raw body's name in the answer")
                     ) -> JSONResponse:
        keep = wanted_classes(classes, detector.class_names)
        images = await uploads(request, settings, name)  # at most max_images: the form parser refuses more
        found = await batcher.detect([u.image for u in images])
        # plain JSON already: a JSONResponse skips FastAPI's encoder (0.3 ms of a 16 ms request, measured)
        return JSONResponse({"images": [{"name": u.name, "width": int(u.image.shape[1]),
                                         "height": int(u.image.shape[0]),
                                         "detections": dets.filter(conf, keep).to_records()}
                                        for u, dets in zip(images, found)]})

    @app.post("/v1/streams", status_code=201, summary="Start a stream: a camera, an RTSP/HTTP URL or (under "
              "the media root) a file, with its own options; the others go on",
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": StreamBody.model_json_schema()}}}})
    async def add_stream(request: Request) -> JSONResponse:
        raw = await read_body(request, MAX_STREAM_BODY)  # read here, under a limit (FastAPI's own has none)
        stream = await streams.add(stream_request(raw))
        return JSONResponse(streams.describe(stream), status_code=201)

    @app.get("/v1/streams", summary="The running streams, each with its report so far")
    async def list_streams() -> JSONResponse:
        return JSONResponse({"streams": [streams.describe(s) for s in streams.roster.present()]})

    @app.get("/v1/streams/{name}", summary="One stream's report so far")
    async def get_stream(name: str) -> JSONResponse:
        return JSONResponse(streams.describe(streams.get(name)))

    @app.get("/v1/streams/{name}/events", summary="Server-Sent Events: each frame's detections ('frame'), "
             "each line or zone event ('line_crossed', 'zone_entered', ...)")
    async def stream_events(name: str) -> StreamingResponse:
        return relay(streams.feed(name).events, "text/event-stream")

    @app.get("/v1/streams/{name}/preview", summary="The stream's drawn frames as MJPEG (an <img> shows it)")
    async def stream_preview(name: str) -> StreamingResponse:
        return relay(streams.feed(name).preview, f"multipart/x-mixed-replace; boundary={BOUNDARY}")

    @app.delete("/v1/streams/{name}", summary="Stop a stream (the others go on); its last report")
    async def remove_stream(name: str) -> JSONResponse:
        stream = streams.remove(name)
        await asyncio.to_thread(stream.ended.wait, REMOVE_WAIT_S)  # its report once closed (tracks summed up)
        return JSONResponse({"removed": name, "report": streams.describe(stream)})

    @app.get("/metrics", summary="Prometheus metrics (text format)")
    async def prometheus() -> Response:
        return Response(metrics.text(), media_type=metrics.content_type)

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> JSONResponse:
        return error(500, f"internal error: {type(exc).__name__}")

    return Guard(app, settings.token, metrics)
