"""The one description of a multi-level RoI Align/Pool: ``RoIAlignSpec``.

Everything else is derived from it: the ONNX node's attributes (written by the exporter), the
standard-ONNX function body (generated from those attributes), the TensorRT plugin's fields
(the same names and kinds, as the ONNX parser hands them over) and the Triton kernel's
compile-time constants. The level/stride arithmetic lives here once too: which pyramid level a
stride is (``level_range``) and which strides torchvision infers from feature shapes
(``infer_strides``). No torch, onnx or TensorRT import: every layer can read it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

DOMAIN = "edgedet"
OP_TYPE = "MultiLevelRoIAlign"
VERSION = 1
PLUGIN_ID = f"{DOMAIN}::{OP_TYPE}"
PARSER_ONLY_ATTRIBUTES = ("plugin_namespace", "plugin_version")  # the parser consumes them to find the plugin

# Attribute name -> kind (int, float, ints, string), in the order the node carries them.
ATTRIBUTE_KINDS: dict[str, str] = {
    "output_height": "int",
    "output_width": "int",
    "sampling_ratio": "int",
    "aligned": "int",
    "canonical_scale": "float",
    "canonical_level": "int",
    "strides": "ints",
    "level_eps": "float",
    "mode": "string",
    "plugin_namespace": "string",
    "plugin_version": "string",
}


class RoIMode(str, Enum):
    """``align``: bilinear samples averaged (RoI Align); ``pool``: coordinates snapped to the
    feature grid and the maximum taken (RoI Pool, as ``torchvision.ops.roi_pool``)."""

    align = "align"
    pool = "pool"


def level_range(strides: Sequence[int]) -> tuple[int, int]:
    """(k_min, k_max): the pyramid levels of the finest and coarsest stride (stride = 2**k)."""
    return round(math.log2(strides[0])), round(math.log2(strides[-1]))


def infer_strides(level_shapes: Sequence[tuple[int, int]], canvas: tuple[int, int]) -> list[int]:
    """Level strides as torchvision's ``MultiScaleRoIAlign`` infers its scales from feature sizes:
    2**round(log2(feature / image)), which must agree in x and y."""
    strides = []
    for fh, fw in level_shapes:
        sh = 2.0 ** round(math.log2(fh / canvas[0]))
        sw = 2.0 ** round(math.log2(fw / canvas[1]))
        if sh != sw:
            raise ValueError(f"a {fh}x{fw} feature level has different x and y strides on a "
                             f"{canvas[0]}x{canvas[1]} canvas")
        strides.append(int(round(1 / sh)))
    return strides


def _next_power_of_2(n: int) -> int:
    return 1 << max(0, int(n) - 1).bit_length()


def _scalar(value: Any) -> Any:
    """A numeric attribute as a Python number, however it came: a number, or the one-element INT32 /
    FLOAT32 array the TensorRT ONNX parser hands a plugin (NumPy >= 2.4 refuses ``int(array([7]))``)."""
    if getattr(value, "ndim", 0) > 0 or isinstance(value, (list, tuple)):
        (value,) = list(value)
    return value.item() if hasattr(value, "item") else value


def _text(value: Any) -> str:
    """A STRING attribute as text, however it came: str, bytes, or the NUL-terminated CHAR array the
    TensorRT ONNX parser hands a plugin."""
    if isinstance(value, bytes):
        value = value.decode()
    elif not isinstance(value, str):  # a numpy int8/char array
        value = bytes(bytearray(int(v) & 0xFF for v in value)).decode()
    return value.rstrip("\x00")


@dataclass(frozen=True)
class RoIAlignSpec:
    """A multi-level RoI Align over an FPN with torchvision's level mapping:
    level = floor(canonical_level + log2(sqrt(area) / canonical_scale) + level_eps), clamped."""

    strides: tuple[int, ...]
    output_size: int = 7
    sampling_ratio: int = 2  # <= 0: adaptive, ceil(roi / output) samples per bin
    aligned: bool = False
    canonical_scale: float = 224.0
    canonical_level: int = 4
    level_eps: float = 1e-6
    mode: RoIMode = RoIMode.align

    def __post_init__(self) -> None:
        object.__setattr__(self, "strides", tuple(int(s) for s in self.strides))
        object.__setattr__(self, "mode", RoIMode(_text(self.mode) if not isinstance(self.mode, RoIMode)
                                                 else self.mode))
        if not self.strides:
            raise ValueError("a RoI Align needs at least one pyramid level")
        if self.output_size < 1:
            raise ValueError(f"output size must be at least 1, got {self.output_size}")

    @property
    def num_levels(self) -> int:
        return len(self.strides)

    @property
    def levels(self) -> tuple[int, int]:
        return level_range(self.strides)

    def reachable_levels(self, canvas: tuple[int, int] | None = None) -> int:
        """How many of the levels (finest first) any RoI can be mapped to; the rest are never read.

        The mapping's clamp alone leaves levels out when strides repeat (mobilenet_v3's FPN pools from
        two stride-32 maps, k_min = k_max = 5: the second is dead). With ``canvas`` (RoIs clipped to
        it, as proposals and detections are), a RoI is at most the canvas' area, so coarse levels past
        that size are unreachable too (a 256-pixel canvas never reaches the stride-32 level). The bound
        is rounded up, so a level it keeps may still go unused, but none it drops is ever needed.
        """
        k_min, k_max = self.levels
        top = k_max
        if canvas is not None:
            side = math.sqrt(canvas[0] * canvas[1])
            top = math.floor(self.canonical_level + math.log2(side / self.canonical_scale) + self.level_eps + 1e-3)
        return max(1, min(self.num_levels, min(max(top, k_min), k_max) - k_min + 1))

    # -- the ONNX node --------------------------------------------------------------------------
    def node_attributes(self) -> dict[str, Any]:
        """Every attribute of the node, explicit (``ATTRIBUTE_KINDS`` order)."""
        attrs = {
            "output_height": int(self.output_size),
            "output_width": int(self.output_size),
            "sampling_ratio": int(self.sampling_ratio),
            "aligned": int(bool(self.aligned)),
            "canonical_scale": float(self.canonical_scale),
            "canonical_level": int(self.canonical_level),
            "strides": list(self.strides),
            "level_eps": float(self.level_eps),
            "mode": self.mode.value,
            "plugin_namespace": DOMAIN,
            "plugin_version": str(VERSION),
        }
        assert list(attrs) == list(ATTRIBUTE_KINDS)
        return attrs

    @classmethod
    def from_attributes(cls, attrs: Mapping[str, Any]) -> RoIAlignSpec:
        """The spec back from node attributes or plugin fields (bytes, NUL-terminated CHAR arrays
        and INT32 arrays as the parsers deliver them)."""
        number = {k: _scalar(v) for k, v in attrs.items() if ATTRIBUTE_KINDS.get(k) in ("int", "float")}
        if int(number["output_height"]) != int(number["output_width"]):
            raise ValueError("MultiLevelRoIAlign pools square bins: output_height must equal output_width")
        return cls(
            strides=tuple(int(s) for s in attrs["strides"]),
            output_size=int(number["output_height"]),
            sampling_ratio=int(number["sampling_ratio"]),
            aligned=bool(int(number["aligned"])),
            canonical_scale=float(number["canonical_scale"]),
            canonical_level=int(number["canonical_level"]),
            level_eps=float(number.get("level_eps", 1e-6)),
            mode=RoIMode(_text(attrs["mode"])),
        )

    # -- the Triton kernel ----------------------------------------------------------------------
    def kernel_constants(self, channels: int, block_c: int = 32) -> dict[str, Any]:
        """The compile-time constants of one kernel instance (the JIT launch and the AOT plugin)."""
        k_min, k_max = self.levels
        return {
            "K_MIN": k_min, "K_MAX": k_max, "SAMPLING": int(self.sampling_ratio),
            "CANONICAL_SCALE": float(self.canonical_scale), "CANONICAL_LEVEL": float(self.canonical_level),
            "LEVEL_EPS": float(self.level_eps), "OUT": int(self.output_size),
            "BINS": _next_power_of_2(self.output_size * self.output_size), "ALIGNED": bool(self.aligned),
            "POOL": self.mode is RoIMode.pool, "BLOCK_C": min(block_c, _next_power_of_2(channels)),
        }


