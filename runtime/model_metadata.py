"""The metadata that makes a model file self-contained (ONNX ``metadata_props``).

Both sides of the dependency line use this: ``export`` writes it, ``runtime`` reads it,
so the key names live in exactly one place. Values are strings on disk (ONNX allows
nothing else); lists and numbers are JSON-encoded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import cached_property

from edgedet.runtime.detections import Pose
from edgedet.runtime.errors import EdgedetError

FORMAT_VERSION = 1
_PREFIX = "edgedet."


@dataclass(frozen=True)
class ModelMetadata:
    architecture: str
    class_names: tuple[str, ...]  # index = label id; 0 is the background
    canvas: tuple[int, int]  # (H, W)
    batch: int | None = None  # None = dynamic
    channel_order: str = "RGB"
    input_layout: str = "NHWC"
    score_thresh: float = 0.05
    nms_thresh: float = 0.5
    max_detections: int = 100
    letterbox_fill: int = 114
    source_sha256: str = ""
    precision: str = "fp32"
    format_version: int = FORMAT_VERSION
    keypoint_names: tuple[str, ...] = ()  # a pose model's joints, in the order of its keypoints output
    skeleton: tuple[tuple[int, int], ...] = ()  # pairs of 0-based joint indices to draw as limbs
    extra: dict = field(default_factory=dict)

    @cached_property
    def pose(self) -> Pose | None:
        """Built once: ``Detector.postprocess`` asks for it on every call."""
        return Pose.of(self.keypoint_names, self.skeleton)

    def to_props(self) -> dict[str, str]:
        """Flatten to the string->string pairs stored in the model file."""
        props = {}
        for key, value in asdict(self).items():
            props[_PREFIX + key] = value if isinstance(value, str) else json.dumps(value)
        return props

    @classmethod
    def from_props(cls, props: Mapping[str, str], source: str = "model") -> ModelMetadata:
        """Parse stored pairs; a file without edgedet metadata gets a clear error."""
        fields = {k[len(_PREFIX):]: v for k, v in props.items() if k.startswith(_PREFIX)}
        if "format_version" not in fields:
            raise EdgedetError(
                f"{source} has no edgedet metadata: export it with 'edgedet export' (a plain torchvision "
                "ONNX export lacks the fixed outputs and metadata the runtime needs)"
            )
        version = int(json.loads(fields["format_version"]))
        if version > FORMAT_VERSION:
            raise EdgedetError(
                f"{source} uses edgedet model format {version}, newer than this runtime's {FORMAT_VERSION}: "
                "upgrade edgedet"
            )
        parsed: dict = {}
        for key, raw in fields.items():
            if key not in cls.__dataclass_fields__:
                continue
            kind = cls.__dataclass_fields__[key].type
            parsed[key] = raw if kind == "str" else json.loads(raw)
        parsed["class_names"] = tuple(parsed.get("class_names", ()))
        parsed["canvas"] = tuple(parsed["canvas"])
        parsed["keypoint_names"] = tuple(parsed.get("keypoint_names", ()))
        parsed["skeleton"] = tuple(tuple(edge) for edge in parsed.get("skeleton", ()))
        return cls(**parsed)


def require_precision(meta: ModelMetadata, precision: str, path: object) -> None:
    """``int8`` is a property of the file (``edgedet quantize`` wrote it), not a switch of the backend."""
    if precision == "int8" and meta.precision != "int8":
        raise EdgedetError(f"'{path}' is a {meta.precision} file: make an int8 one with 'edgedet quantize {path} "
                           "--calib IMAGES', then run that file")
