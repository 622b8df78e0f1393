"""Synthetic tracking sequences with ground truth: the detection set's shapes (same renderer, so the demo
model detects them) moving over a still background, in MOTChallenge's layout.

Each sequence has objects entering from the edges and leaving, a few already in view; they move in straight
lines, some turn once and some change speed; they pass in front of and behind each other (a fixed depth
order) and behind a static grey block. Beside the video:

    seq-00/video.avi        the frames (MJPG, ``fps`` frames per second)
    seq-00/seqinfo.ini      MOTChallenge's sequence facts
    seq-00/gt/gt.txt        frame, id, left, top, width, height, 1, class, visibility (frames and ids from 1)
    seq-00/analytics.json   the sequence's counting lines and zone, with their true crossings and entries

A box is the whole shape's extent clipped to the frame, ``visibility`` the share of its pixels in view (0
behind the block). The truth of the analytics is geometry on the true path of each object's reference point
(its box's bottom centre, as the runtime's analytics use): a crossing is a step between two frames whose ends
lie on opposite sides of a line and which meets the segment; an entry a step from outside the zone to inside.
The same seed writes the same bytes.
"""

from __future__ import annotations

import configparser
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgedet.data.synthetic import CLASSES, _draw, render_background
from edgedet.runtime.atomic import PendingFile, write_json, write_text
from edgedet.runtime.errors import EdgedetError

BLOCK_COLOR = (128, 128, 128)
OBJECTS_PER_100_FRAMES = 6


@dataclass
class _Mover:
    """One object: its shape, look and path (a position per frame, None while not yet or no longer in view)."""

    kind: int
    radius: float
    angle: float
    color: tuple[int, int, int]
    depth: float
    path: list[tuple[float, float] | None]


def _path(rng: np.random.Generator, frames: int, h: int, w: int, r: float, start: int, inside: bool) -> list:
    """Positions from ``start`` until the object has left the frame: in from an edge (or from a point in
    view), heading across, perhaps turning once and changing speed once."""
    if inside:
        pos = np.array([rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.85) * h])
    else:
        edge = int(rng.integers(4))
        t = rng.uniform(0.15, 0.85)
        pos = np.array([[t * w, -r], [w + r, t * h], [t * w, h + r], [-r, t * h]][edge])
    target = np.array([rng.uniform(0.25, 0.75) * w, rng.uniform(0.25, 0.75) * h])
    heading = math.atan2(*(target - pos)[::-1]) if not inside else rng.uniform(0, 2 * math.pi)
    speed = rng.uniform(1.5, 4.0) * w / 256
    turn_at = start + int(rng.integers(20, 80)) if rng.random() < 0.5 else None
    turn = rng.choice([-1, 1]) * rng.uniform(math.radians(30), math.radians(80))
    speed_at = start + int(rng.integers(10, 80)) if rng.random() < 0.5 else None
    factor = rng.uniform(0.5, 1.8)
    path: list = [None] * frames
    entered = inside
    for f in range(start, frames):
        in_view = -r < pos[0] < w + r and -r < pos[1] < h + r
        if entered and not in_view:
            break
        entered = entered or in_view
        path[f] = (float(pos[0]), float(pos[1]))
        if f == turn_at:
            heading += turn
        if f == speed_at:
            speed *= factor
        pos = pos + speed * np.array([math.cos(heading), math.sin(heading)])
    return path


def _block(rng: np.random.Generator, h: int, w: int, keep_clear: list[np.ndarray]) -> tuple[int, int, int, int]:
    """A static grey block that objects pass behind, clear of the counting lines and the zone."""
    for _ in range(200):
        bw, bh = int(rng.uniform(0.12, 0.22) * w), int(rng.uniform(0.12, 0.22) * h)
        x, y = int(rng.uniform(0, w - bw)), int(rng.uniform(0, h - bh))
        grown = np.array([[x - 8, y - 8], [x + bw + 8, y - 8], [x + bw + 8, y + bh + 8], [x - 8, y + bh + 8]],
                         np.float32)
        if not any(cv2.intersectConvexConvex(grown, shape.astype(np.float32))[0] > 0 for shape in keep_clear):
            return x, y, bw, bh
    return 0, 0, 0, 0  # nowhere clear: no block


def _steps_cross(p: np.ndarray, q: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[bool, float]:
    """Whether the step p->q goes from one side of the segment a-b to the other (strictly) through the
    segment; the sign of the side it ends on (positive: the right-hand side walking a->b, y down)."""
    def cross(u, v, x) -> float:
        return float((v[0] - u[0]) * (x[1] - u[1]) - (v[1] - u[1]) * (x[0] - u[0]))

    sp, sq = cross(a, b, p), cross(a, b, q)
    return sp * sq < 0 and cross(p, q, a) * cross(p, q, b) <= 0, sq


def _scene(rng: np.random.Generator, size: int) -> tuple[list[dict], list[dict]]:
    """The sequence's counting lines (one across, one down) and its zone (a quadrilateral)."""
    s = float(size)
    y, x = rng.uniform(0.4, 0.6) * s, rng.uniform(0.4, 0.6) * s
    lines = [{"name": "across", "points": [[round(0.1 * s), round(y)], [round(0.9 * s), round(y)]]},
             {"name": "down", "points": [[round(x), round(0.9 * s)], [round(x), round(0.1 * s)]]}]
    cx, cy = rng.choice([0.27, 0.73]) * s, rng.choice([0.27, 0.73]) * s
    half = 0.13 * s
    zone = [[round(cx - half), round(cy - half)], [round(cx + half * 1.1), round(cy - half * 0.8)],
            [round(cx + half), round(cy + half)], [round(cx - half * 0.9), round(cy + half * 1.1)]]
    return lines, [{"name": "zone", "polygon": zone}]


def _inside(point: np.ndarray, polygon: np.ndarray) -> bool:
    return cv2.pointPolygonTest(polygon.astype(np.float32).reshape(-1, 1, 2), (float(point[0]), float(point[1])),
                                False) > 0


def write_sequence(folder: Path, seed: int, index: int, frames: int, size: int, fps: float) -> dict:
    """One sequence; returns its true counts (crossings per line, entries per zone)."""
    rng = np.random.default_rng([seed, index, 7])
    h = w = size
    background = render_background(rng, h, w)
    lines, zones = _scene(rng, size)
    clear = [np.array(ln["points"], np.float64) for ln in lines] + [np.array(z["polygon"], np.float64) for z in zones]
    bx, by, bw, bh = _block(rng, h, w, clear)
    count = max(2, round(OBJECTS_PER_100_FRAMES * frames / 100))
    movers = []
    for i in range(count):
        r = float(np.exp(rng.uniform(math.log(10), math.log(0.09 * size))))
        inside = i < 2
        start = 0 if inside else int(rng.integers(0, max(1, frames - 40)))
        movers.append(_Mover(int(rng.integers(len(CLASSES))), r, float(rng.uniform(0, 2 * math.pi)),
                             tuple(int(c) for c in rng.integers(40, 256, 3)), float(rng.random()),
                             _path(rng, frames, h, w, r, start, inside)))
    order = sorted(range(count), key=lambda i: movers[i].depth)  # drawn back to front
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "gt").mkdir(exist_ok=True)
    video = PendingFile(folder / "video.avi")  # in place only once whole
    writer = cv2.VideoWriter(str(video.tmp), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    gt = io.StringIO()
    for f in range(frames):
        image = background.copy()
        owner = np.full((h, w), -1, np.int32)
        full_area: dict[int, tuple[int, tuple[int, int, int, int]]] = {}
        for i in order:
            m = movers[i]
            if m.path[f] is None:
                continue
            mask = np.zeros((h, w), np.uint8)
            _draw(mask, CLASSES[m.kind], *m.path[f], m.radius, m.angle + 0.01 * f, 255)
            full = mask > 127
            if not full.any():
                continue
            ys, xs = np.nonzero(full)
            full_area[i] = (int(full.sum()), (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1))
            _draw(image, CLASSES[m.kind], *m.path[f], m.radius, m.angle + 0.01 * f, m.color)
            owner[full] = i
        if bw:
            cv2.rectangle(image, (bx, by), (bx + bw - 1, by + bh - 1), BLOCK_COLOR, -1)
            owner[by:by + bh, bx:bx + bw] = -1
        for i, (area, (x1, y1, x2, y2)) in sorted(full_area.items()):
            visible = np.count_nonzero(owner == i) / area
            gt.write(f"{f + 1},{i + 1},{x1},{y1},{x2 - x1},{y2 - y1},1,{movers[i].kind + 1},{visible:.3f}\n")
        writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    writer.release()
    video.commit()
    truth = _truth(movers, lines, zones, h, w)
    write_text(folder / "gt" / "gt.txt", gt.getvalue())
    info = configparser.ConfigParser()
    info.optionxform = str  # MOTChallenge spells its keys in camelCase
    info["Sequence"] = {"name": folder.name, "imDir": "img1", "frameRate": str(int(fps)), "seqLength": str(frames),
                        "imWidth": str(w), "imHeight": str(h), "imExt": ".jpg"}
    text = io.StringIO()
    info.write(text, space_around_delimiters=False)
    write_text(folder / "seqinfo.ini", text.getvalue())
    write_json(folder / "analytics.json", {"classes": list(CLASSES), "reference_point": "bottom_centre", **truth})
    return truth


def _truth(movers: list[_Mover], lines: list[dict], zones: list[dict], h: int, w: int) -> dict:
    """The true crossings and entries, from each object's box bottom centre (the box clipped to the frame)
    on consecutive frames in view."""
    def anchor(m: _Mover, p: tuple[float, float]) -> np.ndarray:
        x, y = p
        return np.array([min(max(x, 0.0), w), min(y + m.radius, h)])

    for line in lines:
        line["crossings"] = []
    for zone in zones:
        zone["entries"] = []
    for i, m in enumerate(movers):
        steps = [(f, anchor(m, p)) for f, p in enumerate(m.path) if p is not None]
        for (_, p), (f1, q) in zip(steps, steps[1:]):
            for line in lines:
                a, b = (np.array(pt, np.float64) for pt in line["points"])
                crossed, side = _steps_cross(p, q, a, b)
                if crossed:
                    line["crossings"].append({"id": i + 1, "frame": f1 + 1, "label": CLASSES[m.kind],
                                              "direction": "in" if side > 0 else "out"})
            for zone in zones:
                polygon = np.array(zone["polygon"], np.float64)
                if not _inside(p, polygon) and _inside(q, polygon):
                    zone["entries"].append({"id": i + 1, "frame": f1 + 1, "label": CLASSES[m.kind]})
    return {"lines": lines, "zones": zones}


def synthesize_tracking(out: str | Path, sequences: int = 4, frames: int = 200, seed: int = 0, size: int = 256,
                        fps: float = 25.0, progress: Callable[[], None] | None = None) -> list[Path]:
    """``out/seq-00`` ... one folder per sequence (see the module's docstring); returns the folders."""
    if sequences < 1:
        raise EdgedetError(f"a tracking data set needs at least one sequence, got {sequences}")
    if frames < 10:
        raise EdgedetError(f"a tracking sequence needs at least 10 frames, got {frames}")
    folders = []
    for index in range(sequences):
        folder = Path(out) / f"seq-{index:02d}"
        write_sequence(folder, seed, index, frames, size, fps)
        folders.append(folder)
        if progress:
            progress()
    return folders
