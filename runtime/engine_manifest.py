"""The sidecar manifest of a TensorRT engine (``model.engine.json``).

A plan file only runs on the TensorRT version and GPU generation it was built for, and it
cannot carry our metadata without breaking trtexec/Triton compatibility. So the plan stays a
plain plan and everything else lives beside it: the model metadata, TensorRT version, GPU
and compute capability, precision, optimisation profiles, and the hashes of the ONNX file
and calibration cache it came from. The runtime refuses a mismatch with one clear line.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgedet.runtime.atomic import write_json
from edgedet.runtime.errors import EdgedetError

MANIFEST_VERSION = 1


@dataclass
class EngineManifest:
    tensorrt_version: str
    gpu_name: str
    compute_capability: str  # "8.7"
    precision: str  # fp32 | fp16 | int8
    profiles: list[dict]  # [{"images": {"min": [...], "opt": [...], "max": [...]}}]
    onnx_sha256: str
    model: dict[str, str]  # the ONNX metadata_props, verbatim
    calibration_cache_sha256: str | None = None
    plugin: dict = field(default_factory=dict)
    format_version: int = MANIFEST_VERSION


def manifest_path(engine: str | Path) -> Path:
    engine = Path(engine)
    return engine.with_name(engine.name + ".json")


def write_manifest(engine: str | Path, manifest: EngineManifest) -> Path:
    return write_json(manifest_path(engine), asdict(manifest))


def read_manifest(engine: str | Path) -> EngineManifest:
    path = manifest_path(engine)
    if not path.is_file():
        raise EdgedetError(f"'{engine}' has no manifest '{path.name}' beside it: build engines with 'edgedet build'")
    try:
        data = json.loads(path.read_text())
        return EngineManifest(**data)
    except (json.JSONDecodeError, TypeError) as exc:
        raise EdgedetError(f"'{path}' is not an edgedet engine manifest ({exc})") from None


def check_compatible(manifest: EngineManifest, tensorrt_version: str, compute_capability: str,
                     gpu_name: str | None = None, engine: str = "engine") -> None:
    """TensorRT plans are tied to the exact TensorRT version and the GPU's compute capability."""
    if manifest.tensorrt_version != tensorrt_version:
        raise EdgedetError(f"{engine} was built with TensorRT {manifest.tensorrt_version}, this is TensorRT "
                           f"{tensorrt_version}: rebuild it here with 'edgedet build'")
    if manifest.compute_capability != compute_capability:
        where = f" ({gpu_name})" if gpu_name else ""
        raise EdgedetError(f"{engine} was built for a {manifest.gpu_name} (compute capability "
                           f"{manifest.compute_capability}), this GPU{where} is {compute_capability}: rebuild it here "
                           "with 'edgedet build'")
