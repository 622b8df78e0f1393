"""edgedet checkpoints and users' torchvision weight files.

An edgedet checkpoint is ``{"model": state_dict, "meta": {...}}`` (plus optimiser state in
``last.pt``), loadable with ``torch.load(..., weights_only=True)``; ``model`` loads into the
torchvision constructor of ``meta["architecture"]`` with ``strict=True``. In code the meta is a typed
``CheckpointMeta``. Every function here reads a file once: the bytes are hashed (the exported
model records the sha256 of its source) and unpickled from memory.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgedet.architectures import build_model, get_arch
from edgedet.data.keypoint_names import COCO_PERSON_KEYPOINTS, COCO_PERSON_SKELETON
from edgedet.runtime.atomic import atomic_path
from edgedet.runtime.errors import EdgedetError
from edgedet.runtime.model_description import ModelDescription, decode, encode
from edgedet.runtime.model_files import require_model_file
from edgedet.runtime.model_metadata import ModelMetadata

CHECKPOINT_FORMAT = "edgedet-checkpoint"
CHECKPOINT_VERSION = 1
PREDICTOR_PREFIX = "roi_heads.box_predictor."


class PlainStateDictError(EdgedetError):
    """A plain state dict was given where its architecture and class count are unknown."""


@dataclass(frozen=True)
class CheckpointMeta(ModelDescription):
    """What a checkpoint says about its model (``ModelDescription``'s fields, the names a deployed file's
    metadata uses too) and how it was trained; ``source_sha256`` is the file's digest (not stored)."""

    train: dict = field(default_factory=dict)

    def build_kwargs(self) -> dict:
        """What ``build_model`` needs beyond the class count: a pose model's joints, RoI Pool."""
        joints = {"num_keypoints": len(self.keypoint_names)} if self.keypoint_names else {}
        return {"roi_mode": self.roi_mode, **joints}

    def to_dict(self) -> dict:
        stored = {k: v for k, v in encode(self).items() if k != "source_sha256"}
        return {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "num_classes": self.num_classes, **stored}

    @classmethod
    def from_dict(cls, meta: dict, path: str | Path, sha256: str = "") -> CheckpointMeta:
        meta = dict(meta)
        if "architecture" not in meta and "arch" in meta:  # checkpoints written before the names were shared
            meta["architecture"] = meta.pop("arch")
        for key in ("architecture", "class_names", "canvas"):
            if key not in meta:
                raise EdgedetError(f"'{path}' checkpoint meta lacks '{key}': re-save it with edgedet")
        spec = get_arch(meta["architecture"])
        if len(meta["canvas"]) != 2:
            raise EdgedetError(f"'{path}' checkpoint meta has a bad canvas {meta['canvas']!r}")
        if spec.keypoints and not meta.get("keypoint_names"):
            meta["keypoint_names"], meta["skeleton"] = default_pose(spec.keypoints)
        return decode(cls, meta, source_sha256=sha256, train=dict(meta.get("train") or {}))

    def model_metadata(self) -> ModelMetadata:
        """The deployed model's metadata for a model exported from this checkpoint: the same description."""
        return ModelMetadata.of(self)


def default_pose(joints: int) -> tuple[tuple[str, ...], tuple[tuple[int, int], ...]]:
    """Joint names and skeleton for a torchvision checkpoint that carries none: COCO's person for
    17 joints (torchvision's Keypoint R-CNN), numbered joints without limbs otherwise."""
    if joints == len(COCO_PERSON_KEYPOINTS):
        return COCO_PERSON_KEYPOINTS, COCO_PERSON_SKELETON
    return tuple(f"joint{i}" for i in range(joints)), ()


def save_checkpoint(path: str | Path, model: nn.Module, meta: CheckpointMeta, **extra: Any) -> None:
    """``torch.save`` through a temporary file: never a half-written checkpoint."""
    with atomic_path(path) as tmp:
        torch.save({"model": model.state_dict(), "meta": meta.to_dict(), **extra}, tmp)


def read_weights(path: str | Path) -> tuple[Any, str]:
    """(the unpickled object, the file's sha256), reading the file once, ``weights_only=True``."""
    path = require_model_file(path, "weights file")
    data = path.read_bytes()
    try:
        obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise EdgedetError(f"cannot load '{path}' as PyTorch weights (weights_only=True): {first}") from None
    return obj, hashlib.sha256(data).hexdigest()


def is_checkpoint(obj: Any) -> bool:
    return (isinstance(obj, dict) and isinstance(obj.get("meta"), dict) and isinstance(obj.get("model"), dict)
            and obj["meta"].get("format") == CHECKPOINT_FORMAT)


def load_checkpoint(path: str | Path) -> tuple[dict, CheckpointMeta]:
    """An edgedet checkpoint (the whole dict, for resuming) and its meta; anything else fails with one line."""
    obj, sha = read_weights(path)
    if not is_checkpoint(obj):
        raise EdgedetError(
            f"'{path}' is not an edgedet checkpoint (a dict with 'model' and 'meta'); a plain torchvision "
            "state dict needs its architecture and number of classes"
        )
    return obj, CheckpointMeta.from_dict(obj["meta"], path, sha)


def _plain_state_dict(obj: Any, path: str | Path) -> dict[str, torch.Tensor]:
    if is_checkpoint(obj):
        return obj["model"]
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]  # torchvision reference-scripts checkpoint
    if not (isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values())):
        raise EdgedetError(f"'{path}' holds no state dict of tensors")
    return obj


def load_into(model: nn.Module, path: str | Path, arch: str) -> list[str]:
    """Load a state dict into ``model``; the class head is re-initialised if its class count differs.

    Returns the keys that were left at their initial values (empty when everything loaded).
    """
    state = _plain_state_dict(read_weights(path)[0], path)
    own = model.state_dict()
    head = [k for k, v in state.items() if k.startswith(PREDICTOR_PREFIX) and k in own and v.shape != own[k].shape]
    state = {k: v for k, v in state.items() if k not in head}
    unexpected = [k for k in state if k not in own]
    missing = [k for k in own if k not in state and not k.startswith(PREDICTOR_PREFIX)
               and not k.endswith("num_batches_tracked")]
    mismatched = [k for k, v in state.items() if k in own and v.shape != own[k].shape]
    if unexpected or missing or mismatched:
        sample = (unexpected + missing + mismatched)[:3]
        raise EdgedetError(
            f"'{path}' does not fit architecture '{arch}' ({len(unexpected)} unexpected, {len(missing)} "
            f"missing, {len(mismatched)} mis-shaped keys, e.g. {', '.join(sample)}): is that the right architecture?"
        )
    result = model.load_state_dict(state, strict=False)
    return [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]


def load_backbone(model: nn.Module, path: str | Path) -> None:
    """ImageNet classification weights into ``backbone.body`` (the classifier keys are ignored)."""
    state = _plain_state_dict(read_weights(path)[0], path)
    body = model.backbone.body
    if not set(body.state_dict()) & set(state):  # MobileNet classifiers nest the body under `features.`
        state = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    result = body.load_state_dict(state, strict=False)
    if result.missing_keys:
        raise EdgedetError(
            f"'{path}' does not fit this backbone: {len(result.missing_keys)} backbone keys missing, "
            f"e.g. {result.missing_keys[0]}"
        )


def _strict_model(state: dict, meta: CheckpointMeta, path: str | Path) -> nn.Module:
    model = build_model(meta.architecture, meta.num_classes, meta.canvas, **meta.build_kwargs())
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise EdgedetError(f"'{path}' does not fit architecture '{meta.architecture}' with {meta.num_classes} classes: "
                           f"{str(exc).strip().splitlines()[0]}") from None
    return model.eval()


def _same_count(names: list[str] | tuple[str, ...], classes: int, path: str | Path) -> None:
    if len(names) != classes:
        raise EdgedetError(f"{len(names)} class names (background included) for '{path}', whose model has "
                           f"{classes} classes: give one name per class")


def model_from_checkpoint(path: str | Path) -> tuple[nn.Module, CheckpointMeta]:
    ckpt, meta = load_checkpoint(path)
    return _strict_model(ckpt["model"], meta, path), meta


def model_from_weights(path: str | Path, arch: str | None = None, num_classes: int | None = None,
                       canvas: tuple[int, int] | None = None,
                       class_names: list[str] | None = None) -> tuple[nn.Module, CheckpointMeta]:
    """An edgedet checkpoint, or a plain torchvision state dict with ``arch`` + ``num_classes``;
    ``canvas`` overrides the checkpoint's, ``class_names`` (background first) its names or a state dict's
    ``class1..classN`` (and give a state dict its class count when ``num_classes`` is None)."""
    obj, sha = read_weights(path)
    if is_checkpoint(obj):
        meta = CheckpointMeta.from_dict(obj["meta"], path, sha)
        meta = replace(meta, canvas=tuple(canvas)) if canvas else meta
        if class_names is not None:
            _same_count(class_names, len(meta.class_names), path)
            meta = replace(meta, class_names=tuple(class_names))
        return _strict_model(obj["model"], meta, path), meta
    if class_names is not None:
        num_classes = num_classes or len(class_names)
        _same_count(class_names, num_classes, path)
    if arch is None or num_classes is None:
        raise PlainStateDictError(f"'{path}' is a plain state dict: give its architecture and number of classes "
                           "(background included)")
    names = class_names or ["__background__"] + [f"class{i}" for i in range(1, num_classes)]
    spec = get_arch(arch)
    joints, skeleton = default_pose(spec.keypoints) if spec.keypoints else ((), ())
    meta = CheckpointMeta(arch, tuple(names), tuple(canvas or spec.canvas), source_sha256=sha,
                          keypoint_names=joints, skeleton=skeleton)
    return _strict_model(_plain_state_dict(obj, path), meta, path), meta
