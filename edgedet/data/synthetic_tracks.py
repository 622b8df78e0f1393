"""Synthetic tracking sequences with ground truth: the detection set's shapes (same renderer, so the demo
model detects them) moving over a still background, in MOTChallenge's layout.

Each sequence has objects entering from the edges and leaving, a few already in view; they move in straight
lines, some turn once and some change speed; they pass in front of and behind each other (a fixed depth
order) and behind a static pillar. Beside the video:

    seq-00/video.avi        the frames (MJPG, ``fps`` frames per second)
    seq-00/seqinfo.ini      MOTChallenge's sequence facts
    seq-00/gt/gt.txt        frame, id, left, top, width, height, 1, class, visibility (frames and ids from 1)
    seq-00/analytics.json   the sequence's counting lines and zone, with their true crossings and entries

A box is the whole shape's extent clipped to the frame, ``visibility`` the share of its pixels in view (0
behind the block). The truth of the analytics is geometry on the true path of each object's reference point
(its box's bottom centre, as the runtime's analytics use) with the runtime's rule: a crossing is a change of
side, each side decided more than ``MARGIN_PX`` pixels from the line, whose step meets the segment, told
once the object has been ``CONFIRM_FRAMES`` decided frames on the new side; an entry a change from outside
the zone to inside, decided and told likewise.
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
from edgedet.runtime.analytics import CONFIRM_FRAMES, MARGIN_PX
from edgedet.runtime.atomic import PendingFile, write_json, write_text
from edgedet.runtime.errors import EdgedetError

OBJECTS_PER_100_FRAMES = 6
# The truth is the runtime's counting rule applied to the true path, at its defaults: a side decided only
# more than MARGIN_PX pixels from a line or a zone's edge (with no margin, an object grazing a zone's corner
# by half a pixel "enters" it, which no detector's boxes, a pixel or two off, can reproduce: the truth would
# count a coin flip), a change of side told once CONFIRM_FRAMES decided frames on the new side.


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
    """A static pillar that objects pass behind, clear of the counting lines and the zone."""
    for _ in range(200):
        bw, bh = int(rng.uniform(0.07, 0.11) * w), int(rng.uniform(0.3, 0.45) * h)
        x, y = int(rng.uniform(0, w - bw)), int(rng.uniform(0, h - bh))
        grown = np.array([[x - 8, y - 8], [x + bw + 8, y - 8], [x + bw + 8, y + bh + 8], [x - 8, y + bh + 8]],
                         np.float32)
        if not any(cv2.intersectConvexConvex(grown, shape.astype(np.float32))[0] > 0 for shape in keep_clear):
            return x, y, bw, bh
    return 0, 0, 0, 0  # nowhere clear: no block


def _pillar(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """The occluder's look: horizontal bands of grey noise, like nothing the detector was taught."""
    if not h or not w:
        return np.zeros((h, w, 3), np.uint8)
    bands = np.repeat(rng.integers(60, 200, (max(1, h // 6) + 1, 1, 1)), 6, axis=0)[:h]
    noise = rng.normal(0, 18, (h, w, 1))
    return np.clip(bands + noise, 0, 255).astype(np.uint8).repeat(3, axis=2)


def _cross(u: np.ndarray, v: np.ndarray, x: np.ndarray) -> float:
    """Twice the signed area of u, v, x: positive when x is right of the walk u->v (y down)."""
    return float((v[0] - u[0]) * (x[1] - u[1]) - (v[1] - u[1]) * (x[0] - u[0]))


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


def write_sequence(folder: Path, seed: int, index: int, frames: int, size: int, fps: float) -> dict:
    """One sequence; returns its true counts (crossings per line, entries per zone)."""
    rng = np.random.default_rng([seed, index, 7])
    h = w = size
    background = render_background(rng, h, w)
    lines, zones = _scene(rng, size)
    clear = [np.array(ln["points"], np.float64) for ln in lines] + [np.array(z["polygon"], np.float64) for z in zones]
    bx, by, bw, bh = _block(rng, h, w, clear)
    pillar = _pillar(rng, bh, bw)
    count = max(2, round(OBJECTS_PER_100_FRAMES * frames / 100))
    movers = []
    for i in range(count):
        r = float(np.exp(rng.uniform(math.log(0.055 * size), math.log(0.125 * size))))  # the detector's good range
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
    anchors: dict[int, list[tuple[int, np.ndarray]]] = {i: [] for i in range(count)}  # (frame, bottom centre)
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
            x1, y1, x2, y2 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
            full_area[i] = (int(full.sum()), (x1, y1, x2, y2))
            anchors[i].append((f, np.array([(x1 + x2) / 2, float(y2)])))
            _draw(image, CLASSES[m.kind], *m.path[f], m.radius, m.angle + 0.01 * f, m.color)
            owner[full] = i
        if bw:
            image[by:by + bh, bx:bx + bw] = pillar
            owner[by:by + bh, bx:bx + bw] = -1
        for i, (area, (x1, y1, x2, y2)) in sorted(full_area.items()):
            visible = np.count_nonzero(owner == i) / area
            gt.write(f"{f + 1},{i + 1},{x1},{y1},{x2 - x1},{y2 - y1},1,{movers[i].kind + 1},{visible:.3f}\n")
        writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    writer.release()
    video.commit()
    truth = _truth(movers, anchors, lines, zones)
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


def _truth(movers: list[_Mover], anchors: dict[int, list[tuple[int, np.ndarray]]], lines: list[dict],
           zones: list[dict], margin: float = MARGIN_PX, confirm: int = CONFIRM_FRAMES) -> dict:
    """The true crossings and entries, from each object's box bottom centre (its whole box, clipped to the
    frame: what the detector's box is when nothing hides it) over the frames it is in view. A point within
    ``margin`` pixels of a line or a zone's edge decides nothing; a crossing is a change of side since the
    last point decided whose step meets the segment, an entry a change from outside to inside, each once
    the object has been ``confirm`` decided frames on its new side (the frame it is told on)."""
    for line in lines:
        line["crossings"] = []
    for zone in zones:
        zone["entries"] = []
    for i, m in enumerate(movers):
        for line in lines:
            a, b = (np.array(pt, np.float64) for pt in line["points"])
            length = float(np.hypot(*(b - a)))
            last: tuple[float, np.ndarray] | None = None  # the side and point last decided
            towards, frames_there = 0.0, 0  # the other side being confirmed, decided frames on it
            for f, q in anchors[i]:
                dist = _cross(a, b, q) / length
                if abs(dist) <= margin:
                    continue
                side = float(np.sign(dist))
                if last is None or last[0] == side:
                    last, towards = (side, q), 0.0
                    continue
                if towards != side:
                    if _cross(last[1], q, a) * _cross(last[1], q, b) > 0:  # beside the segment, not through it
                        last = (side, q)
                        continue
                    towards, frames_there = side, 0
                frames_there += 1
                if frames_there == confirm:
                    line["crossings"].append({"id": i + 1, "frame": f + 1, "label": CLASSES[m.kind],
                                              "direction": "in" if side > 0 else "out"})
                    last, towards = (side, q), 0.0
        for zone in zones:
            contour = np.array(zone["polygon"], np.float32).reshape(-1, 1, 2)
            was_inside: bool | None = None
            frames_there = 0
            for f, q in anchors[i]:
                depth = cv2.pointPolygonTest(contour, (float(q[0]), float(q[1])), True)
                if abs(depth) <= margin:
                    continue
                inside = depth > 0
                if was_inside is None or inside == was_inside:
                    was_inside, frames_there = inside, 0
                    continue
                frames_there += 1
                if frames_there == confirm:
                    if inside:
                        zone["entries"].append({"id": i + 1, "frame": f + 1, "label": CLASSES[m.kind]})
                    was_inside, frames_there = inside, 0
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
