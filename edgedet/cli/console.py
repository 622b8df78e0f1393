"""Shared console helpers: one rich console, progress bars, JSON output."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console(stderr=True)


def progress_bar(transient: bool = False) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                    console=console, transient=transient)


def emit_json(payload: Any) -> None:
    """Machine-readable result on stdout (everything human goes to stderr)."""
    sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")
    sys.stdout.flush()


def parse_canvas(text: str | None) -> tuple[int, int] | None:
    """'320' -> (320, 320); '480,640' -> (480, 640)."""
    from runtime.errors import EdgedetError

    if text is None:
        return None
    parts = [p for p in text.replace("x", ",").split(",") if p.strip()]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise EdgedetError(f"--imgsz '{text}' is not H or H,W in pixels") from None
    if len(values) == 1:
        values = values * 2
    if len(values) != 2:
        raise EdgedetError(f"--imgsz '{text}' is not H or H,W in pixels")
    from edgedet.architectures import check_canvas

    return check_canvas((values[0], values[1]))
