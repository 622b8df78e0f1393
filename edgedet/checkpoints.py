"""edgedet checkpoints and users' torchvision weight files.

An edgedet checkpoint is ``{"model": state_dict, "meta": {...}}`` (plus optimiser state
in ``last.pt``), loadable with ``torch.load(..., weights_only=True)``; ``model`` loads
into the torchvision constructor of ``meta["arch"]`` with ``strict=True``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgedet.architectures import build_model, get_arch
from runtime.errors import EdgedetError
from runtime.hashing import sha256_file  # noqa: F401  (re-exported: callers hash checkpoints)

CHECKPOINT_FORMAT = "edgedet-checkpoint"
PREDICTOR_PREFIX = "roi_heads.box_predictor."


def atomic_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to a temp file beside ``path``, then rename: no half-written checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def make_meta(arch: str, class_names: tuple[str, ...] | list[str], canvas: tuple[int, int],
              train: dict | None = None) -> dict:
    return {"format": CHECKPOINT_FORMAT, "version": 1, "arch": arch, "num_classes": len(class_names),
            "class_names": list(class_names), "canvas": [int(canvas[0]), int(canvas[1])], "train": train or {}}


def save_checkpoint(path: str | Path, model: nn.Module, meta: dict, **extra: Any) -> None:
    atomic_save({"model": model.state_dict(), "meta": meta, **extra}, path)


def read_file(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise EdgedetError(f"weights file '{path}' does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise EdgedetError(f"cannot load '{path}' as PyTorch weights (weights_only=True): {first}") from None


def load_checkpoint(path: str | Path) -> dict:
    """Read an edgedet checkpoint; anything else fails with one line saying what it is."""
    obj = read_file(path)
    if not (isinstance(obj, dict) and isinstance(obj.get("meta"), dict) and isinstance(obj.get("model"), dict)
            and obj["meta"].get("format") == CHECKPOINT_FORMAT):
        raise EdgedetError(
            f"'{path}' is not an edgedet checkpoint (a dict with 'model' and 'meta'); for a plain torchvision "
            "state dict pass --arch and --num-classes"
        )
    meta = obj["meta"]
    for key in ("arch", "class_names", "canvas"):
        if key not in meta:
            raise EdgedetError(f"'{path}' checkpoint meta lacks '{key}': re-save it with edgedet")
    get_arch(meta["arch"])
    return obj


def is_checkpoint(obj: Any) -> bool:
    return (isinstance(obj, dict) and isinstance(obj.get("meta"), dict)
            and obj["meta"].get("format") == CHECKPOINT_FORMAT)


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
    state = _plain_state_dict(read_file(path), path)
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
            f"missing, {len(mismatched)} mis-shaped keys, e.g. {', '.join(sample)}): check --arch"
        )
    result = model.load_state_dict(state, strict=False)
    return [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]


def load_backbone(model: nn.Module, path: str | Path) -> None:
    """ImageNet classification weights into ``backbone.body`` (the classifier keys are ignored)."""
    state = _plain_state_dict(read_file(path), path)
    body = model.backbone.body
    if not set(body.state_dict()) & set(state):  # MobileNet classifiers nest the body under `features.`
        state = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    result = body.load_state_dict(state, strict=False)
    if result.missing_keys:
        raise EdgedetError(
            f"'{path}' does not fit this backbone: {len(result.missing_keys)} backbone keys missing, "
            f"e.g. {result.missing_keys[0]}"
        )


def model_from_checkpoint(path: str | Path) -> tuple[nn.Module, dict]:
    ckpt = load_checkpoint(path)
    meta = ckpt["meta"]
    model = build_model(meta["arch"], len(meta["class_names"]), tuple(meta["canvas"]))
    try:
        model.load_state_dict(ckpt["model"], strict=True)
    except RuntimeError as exc:
        raise EdgedetError(f"'{path}' weights do not fit architecture '{meta['arch']}': "
                           f"{str(exc).splitlines()[0]}") from None
    model.eval()
    return model, meta


def model_from_weights(path: str | Path, arch: str | None = None, num_classes: int | None = None,
                       canvas: tuple[int, int] | None = None,
                       class_names: list[str] | None = None) -> tuple[nn.Module, dict]:
    """An edgedet checkpoint, or a plain torchvision state dict with ``arch`` + ``num_classes``."""
    obj = read_file(path)
    if is_checkpoint(obj):
        model, meta = model_from_checkpoint(path)
        if canvas and tuple(canvas) != tuple(meta["canvas"]):
            model = build_model(meta["arch"], len(meta["class_names"]), canvas)
            model.load_state_dict(load_checkpoint(path)["model"], strict=True)
            meta = {**meta, "canvas": list(canvas)}
        return model, meta
    if arch is None or num_classes is None:
        raise EdgedetError(f"'{path}' is a plain state dict: pass --arch and --num-classes (background included)")
    state = _plain_state_dict(obj, path)
    model = build_model(arch, num_classes, canvas)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise EdgedetError(f"'{path}' does not fit architecture '{arch}' with {num_classes} classes: "
                           f"{str(exc).strip().splitlines()[0]}") from None
    names = class_names or ["__background__"] + [f"class{i}" for i in range(1, num_classes)]
    return model.eval(), make_meta(arch, names, canvas or get_arch(arch).canvas)
