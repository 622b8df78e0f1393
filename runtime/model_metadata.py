"""The metadata that makes a model file self-contained (ONNX ``metadata_props``).

Both sides of the dependency line use this: ``export`` writes it, ``runtime`` reads it,
so the key names live in exactly one place. Values are strings on disk (ONNX allows
nothing else); lists and numbers are JSON-encoded.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from edgedet.runtime.errors import EdgedetError
from edgedet.runtime.model_description import ModelDescription, decode, encode, shared_fields

FORMAT_VERSION = 1
_PREFIX = "edgedet."


@dataclass(frozen=True)
class ModelMetadata(ModelDescription):
    """A deployed file's description (``ModelDescription``'s fields) and what the export fixed."""

    batch: int | None = None  # None = dynamic
    channel_order: str = "RGB"
    input_layout: str = "NHWC"
    score_thresh: float = 0.05
    nms_thresh: float = 0.5
    max_detections: int = 100
    letterbox_fill: int = 114
    precision: str = "fp32"
    format_version: int = FORMAT_VERSION
    extra: dict = field(default_factory=dict)

    @classmethod
    def of(cls, description: ModelDescription, **facts) -> ModelMetadata:
        """The file's metadata for a model of this description (a checkpoint's), plus the export's facts."""
        return cls(**{**shared_fields(description), **facts})

    def to_props(self) -> dict[str, str]:
        """Flatten to the string->string pairs stored in the model file."""
        return {_PREFIX + key: value if isinstance(value, str) else json.dumps(value)
                for key, value in encode(self).items()}

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
        kinds = {f.name: f.type for f in dataclasses.fields(cls)}
        parsed = {key: raw if kinds[key] == "str" else json.loads(raw) for key, raw in fields.items() if key in kinds}
        if "roi_mode" not in parsed:  # files written before the field existed kept it in extra
            parsed["roi_mode"] = parsed.get("extra", {}).get("roi_mode", "align")
        return decode(cls, parsed)


def require_precision(meta: ModelMetadata, precision: str, path: object) -> None:
    """``int8`` is a property of the file (``edgedet quantize`` wrote it), not a switch of the backend."""
    if precision == "int8" and meta.precision != "int8":
        raise EdgedetError(f"'{path}' is a {meta.precision} file: int8 runs a quantized file (edgedet quantize "
                           "writes one from it), not a switch of the backend")
