"""``edgedet serve --ray``: the same HTTP API as a Ray Serve application on a running cluster.

Two deployments. ``Detector`` replicas each hold one detector, loaded from the model file's bytes the caller
put in Ray's object store (the file need not exist on the other nodes, as with the streaming runtime's Ray
mode), behind the single-box server's dynamic batcher. ``Api`` replicas (no model, no CPU asked) serve
``app.build_app``'s ASGI app, so the token check, body limits, image checks and JSON errors are the
single-box server's, unchanged; each ``/v1/detect`` goes to a detector replica through Ray Serve's router.
Ray Serve's HTTP proxy (one per node, on the address asked for) routes each request to an ``Api`` replica.

A detector replica that dies is replaced by Serve's controller; the calls it held go again to a live one
(``RemoteBatcher``), so its death is no client's error. Ray's own proxy would answer those requests with a
500 if the replica that died were the one serving HTTP: that is why the model is not in the HTTP replica.

What does not carry over is state between requests: Serve sends each request to any replica, so a stream
added through one would be read, watched and removed through others. This server therefore runs no streams
(``POST /v1/streams`` is a 501 that says where streams run), and ``/metrics`` is the answering replica's.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ray import serve
from ray.serve.handle import DeploymentHandle

from edgedet.runtime.cluster import ClusterModel
from edgedet.runtime.detections import Detections
from edgedet.runtime.detector import BackendInfo
from edgedet.runtime.errors import EdgedetError
from edgedet.runtime.loader import load_detector
from edgedet.runtime.serve.app import ServeSettings, build_app, local_batcher, warm_up

APP_NAME = "edgedet"
STREAMS_ON_RAY = ("this server is a Ray Serve deployment, where each request may reach another replica: a stream "
                  "would run on one and be read or removed on others. Run streams on a single-box server, or "
                  "spread cameras over the cluster with the streaming runtime's Ray mode")
MAX_ONGOING = 32  # requests one detector replica takes at once: enough for its batcher to fill a batch
RETRIES = 3  # times a call goes again after its replica died under it


@dataclass(frozen=True)
class ReplicaModel:
    """How every replica opens the model. ``files``: a one-item list holding the object-store reference to
    the model file's bytes (and an engine's manifest); in a list, so Ray hands the replica the reference
    rather than resolving it into the deployment's arguments."""

    files: list[Any]
    backend: str = "auto"
    precision: str = "fp32"
    provider: str = "cpu"
    threads: int | None = None
    origin: str = ""  # the file as the caller named it (each replica runs a copy in a folder of its own)


@dataclass(frozen=True)
class ModelFacts:
    """What the API front reads of the model (``app.ServedModel``), sent once by a detector replica."""

    class_names: tuple[str, ...]
    canvas: tuple[int, int]
    fill: int
    fixed_batch: int | None
    max_batch: int | None
    info: BackendInfo

    def describe(self) -> BackendInfo:
        return self.info


class DetectorReplica:
    """One detector, loaded from the model's bytes in the object store, behind this process's dynamic
    batcher: requests that reach this replica together share an inference call, as on one box."""

    async def __init__(self, model: ReplicaModel, settings: ServeSettings) -> None:  # Serve awaits it
        import ray

        self._dir = tempfile.TemporaryDirectory(prefix="edgedet-replica-")
        files: dict[str, bytes] = ray.get(model.files[0])
        for name, data in files.items():
            Path(self._dir.name, name).write_bytes(data)
        path = Path(self._dir.name, next(iter(files)))
        try:
            self.detector = load_detector(path, backend=model.backend, precision=model.precision,
                                          provider=model.provider, threads=model.threads)
        except EdgedetError as exc:  # about the file the caller named, not this replica's copy of it
            raise EdgedetError(str(exc).replace(str(path), model.origin or path.name)) from None
        self.origin = model.origin
        self.batcher = local_batcher(self.detector, settings, None)  # on the loop Serve runs this replica on
        self.batcher.start()
        await warm_up(self.batcher, self.detector, settings)  # ready before Serve routes a request here

    def facts(self) -> ModelFacts:
        d, info = self.detector, self.detector.describe()
        info = dataclasses.replace(info, model=self.origin or info.model)
        return ModelFacts(d.class_names, d.canvas, d.fill, d.fixed_batch, d.max_batch, info)

    async def detect(self, images: list[np.ndarray]) -> list[Detections]:
        return await self.batcher.detect(images)


class RemoteBatcher:
    """``/v1/detect``'s images to a detector replica, through Ray Serve's router. A replica that dies with
    the call on it (Ray's ``RayActorError``) is not the client's failure: the call goes again, to a live
    replica, up to ``RETRIES`` times."""

    def __init__(self, handle: DeploymentHandle) -> None:
        self.handle = handle

    depth = 0  # requests wait in Ray's router and in the replicas' own batchers

    def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        from ray.exceptions import RayActorError

        for attempt in range(RETRIES + 1):
            try:
                return await self.handle.detect.remote(list(images))
            except RayActorError:
                if attempt == RETRIES:
                    raise
        raise AssertionError("unreachable")


@serve.ingress()
class ApiFront:
    """The HTTP side: ``app.build_app``'s ASGI app (token, limits, image checks, JSON errors) over the
    detector replicas. Light (no model, no CPU asked of Ray); one per detector replica."""

    async def __init__(self, detectors: DeploymentHandle, settings: ServeSettings) -> None:
        self.detectors, self.settings = detectors, settings
        self.facts: ModelFacts = await detectors.facts.remote()

    def __serve_build_asgi_app__(self):  # Ray Serve calls it once the constructor has run
        return build_app(self.facts, self.settings, streams_refusal=STREAMS_ON_RAY,
                         batcher=RemoteBatcher(self.detectors))


def deploy(source: ClusterModel, settings: ServeSettings, replicas: int, host: str, port: int) -> ReplicaModel:
    """Start Serve's proxies on ``host:port`` (where Serve is not running yet) and the application with
    ``replicas`` replicas, each asking Ray for the CPUs its detector's threads use; returns once every
    replica has loaded its model and warmed up (or raises when they cannot). The model's bytes stay in the
    object store while the caller (their owner) runs and keeps the returned ``ReplicaModel``: a replica
    that replaces a dead one reads them from there."""
    import ray

    serve.start(http_options={"host": host, "port": port})
    model = ReplicaModel([ray.put(source.files())], source.backend, source.precision, source.provider, source.threads,
                         str(source.path))
    detectors = serve.deployment(DetectorReplica, name="Detector", num_replicas=replicas,
                                 max_ongoing_requests=MAX_ONGOING, ray_actor_options={"num_cpus": model.threads or 1},
                                 max_constructor_retry_count=2)
    front = serve.deployment(ApiFront, name="Api", num_replicas=replicas, max_ongoing_requests=4 * MAX_ONGOING,
                             ray_actor_options={"num_cpus": 0}, max_constructor_retry_count=2)
    try:
        serve.run(front.bind(detectors.bind(model, settings), settings), name=APP_NAME, route_prefix="/",
                  blocking=False)
    except RuntimeError as exc:  # a deployment failed: say why in one line, and leave nothing half-deployed
        reason = failure(exc)
        undeploy()
        raise RuntimeError(reason) from None
    except BaseException:  # Ctrl-C or SIGTERM while the replicas start: nothing is left deployed either
        undeploy()
        raise
    return model


def failure(exc: RuntimeError) -> str:
    """Why the application did not start: the last line of each failed deployment's message (the
    replica's own exception, where Serve's application message only names the deployment)."""
    app = serve.status().applications.get(APP_NAME)
    reasons = []
    for name, deployment in (app.deployments.items() if app is not None else ()):
        lines = [line.strip() for line in (deployment.message or "").splitlines() if line.strip()]
        if deployment.status != "HEALTHY" and lines:  # a str enum
            reasons.append(f"{name}: {lines[-1].removeprefix(f'{EdgedetError.__module__}.EdgedetError: ')}")
    return "; ".join(reasons) or str(exc).strip().splitlines()[-1]


def undeploy() -> None:
    """Remove the application (Serve itself and the cluster keep running, for whatever else they serve)."""
    serve.delete(APP_NAME)
