"""What a model is, wherever it is stored: the fields a checkpoint's meta and a deployed file's metadata
share, under one set of names, written and read by one serializer.

``CheckpointMeta`` (a ``.pt`` file) and ``ModelMetadata`` (an ``.onnx`` file's props, an engine's
manifest) both extend ``ModelDescription``, and an export takes its file's description from the
checkpoint's (``ModelMetadata.of``), so the file cannot name its architecture, classes, canvas, joints
or RoI pooling differently from the checkpoint it came from. Torch-free, so the runtime reads it too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

from edgedet.runtime.detections import Pose


@dataclass(frozen=True)
class ModelDescription:
    architecture: str
    class_names: tuple[str, ...]  # index = label id; 0 is the background
    canvas: tuple[int, int]  # (H, W)
    keypoint_names: tuple[str, ...] = ()  # a pose model's joints, in its predictor's channel order
    skeleton: tuple[tuple[int, int], ...] = ()  # pairs of 0-based joint indices to draw as limbs
    roi_mode: str = "align"  # the box head's pooling: align (RoI Align) or pool (RoI Pool)
    source_sha256: str = ""  # the digest of the checkpoint it came from

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @cached_property
    def pose(self) -> Pose | None:
        """Built once: the post-process asks for it on every call."""
        return Pose.of(self.keypoint_names, self.skeleton)

    def description(self) -> ModelDescription:
        """Only the shared fields (what an export carries over from its checkpoint)."""
        return ModelDescription(**shared_fields(self))


D = TypeVar("D", bound=ModelDescription)


def shared_fields(obj: ModelDescription) -> dict[str, Any]:
    """``obj``'s values of ``ModelDescription``'s fields, whichever description it is."""
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(ModelDescription)}


def encode(obj: ModelDescription) -> dict[str, Any]:
    """Every field of ``obj`` as JSON values (tuples become lists); the one writer of both file kinds."""
    return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}


def decode(cls: type[D], raw: Mapping[str, Any], **given: Any) -> D:
    """``cls`` from JSON values: unknown keys are ignored (a newer writer's additions), the shared tuple
    fields are rebuilt; ``given`` overrides ``raw``."""
    names = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in {**raw, **given}.items() if k in names}
    values["class_names"] = tuple(str(n) for n in values.get("class_names", ()))
    values["canvas"] = tuple(int(v) for v in values["canvas"])
    values["keypoint_names"] = tuple(str(n) for n in values.get("keypoint_names") or ())
    values["skeleton"] = tuple((int(a), int(b)) for a, b in values.get("skeleton") or ())
    return cls(**values)


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
