"""Options shared by several commands, defined once (Polygraphy's argument groups, in Typer).

The CLI owns its flags: each option's type, choices and range live here, so a bad value is refused
by the parser with a line naming the flag, and the library below never mentions a flag.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from edgedet.export.roi_spec import RoIMode
from edgedet.runtime.detector import Precision
from edgedet.runtime.loader import Backend
from edgedet.runtime.onnx_detector import Provider

__all__ = ["BackendOption", "Canvas", "JsonOut", "ModelFile", "PrecisionOption", "ProviderOption", "RoIMode",
           "RtspTransport", "Threads", "Transport", "TrackParams", "TrackerName", "parse_canvas"]


class TrackerName(str, Enum):
    """``edgedet.runtime.tracking.TRACKERS``' names, spelled out so the CLI starts without importing the
    trackers (and scipy); a test keeps the two equal."""

    bytetrack = "bytetrack"
    ocsort = "ocsort"
    sort = "sort"


TrackParams = Annotated[list[str] | None, typer.Option(
    "--track-param", metavar="KEY=VALUE", help="A tracker parameter (repeatable), e.g. track_buffer=60, "
    "class_agnostic=true; see docs/tracking.md.")]


COUNT_AFTER = 3  # edgedet.runtime.analytics.CONFIRM_FRAMES, spelled out like TrackerName; a test keeps them equal
CountAfter = Annotated[int, typer.Option(
    "--count-after", min=1, max=100, metavar="N", help="Frames a track must stay on a line's or zone's new "
    "side before its crossing, entry or exit counts (1: at once); against a half-hidden box's flicker.")]


def parse_canvas(text: str | None) -> tuple[int, int] | None:
    """'320' -> (320, 320); '480,640' or '480x640' -> (480, 640); each side a positive multiple of 32."""
    if text is None:
        return None
    parts = [p for p in text.replace("x", ",").split(",") if p.strip()]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) == 1:
        values = values * 2
    if len(values) != 2:
        raise typer.BadParameter(f"'{text}' is not H or H,W in pixels")
    if min(values) <= 0 or values[0] % 32 or values[1] % 32:
        raise typer.BadParameter(f"{values[0]}x{values[1]} is not a positive multiple of 32 in both sides: "
                                 "use e.g. 320 or 640,480")
    return values[0], values[1]


def _canvas_callback(value: str | None) -> str | None:
    parse_canvas(value)
    return value


class Transport(str, Enum):
    """``edgedet.runtime.captures.RTSP_TRANSPORTS``, spelled out so the CLI starts without OpenCV; a test
    keeps the two equal."""

    auto = "auto"
    tcp = "tcp"
    udp = "udp"


RtspTransport = Annotated[Transport, typer.Option(
    "--rtsp-transport", help="How RTSP is carried: tcp (through firewalls and NAT, nothing lost), udp (least "
    "delay on a clean LAN) or auto (UDP, then TCP).")]
JsonOut = Annotated[bool, typer.Option("--json/--no-json", metavar="",
                                       help="Print the result as JSON on stdout (humans read stderr).")]
Threads = Annotated[int | None, typer.Option(min=1, help="Inference threads (default: the runtime's choice).")]
ProviderOption = Annotated[Provider, typer.Option(
    "--provider", help="ONNX Runtime execution provider; falls back to the CPU where missing.")]
BackendOption = Annotated[Backend, typer.Option(
    "--backend", help="Inference backend for .onnx files (auto: onnxruntime; engines run on tensorrt).")]
PrecisionOption = Annotated[Precision, typer.Option(
    "--precision", help="fp32 (exact); bf16 (openvino, CPUs with native bf16); int8 (a file from 'edgedet quantize').")]
Canvas = Annotated[str | None, typer.Option(
    "--imgsz", callback=_canvas_callback, help="Canvas H or H,W in pixels, multiples of 32.")]
ModelFile = Annotated[Path, typer.Argument(help="A model: .onnx (exported), .engine (TensorRT) or .pt (eager).")]
