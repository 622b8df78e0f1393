"""Line and zone analytics against walks whose crossings, entries and dwell times are known by construction
(and point-in-polygon against matplotlib's own test): a crossing is counted once per change of side, in the
right direction and class, never for jitter on the line or a pass beyond its ends; a zone counts entries
from outside only, exits with their dwell time, and its occupancy."""

from __future__ import annotations

import numpy as np
import pytest

from edgedet.runtime.analytics import Analytics, LineCrossed, ZoneEntered, ZoneExited, parse_line, parse_zone
from edgedet.runtime.analytics.geometry import inside_depth, segments_cross, signed_distance
from edgedet.runtime.analytics.specs import check_names
from edgedet.runtime.detections import Detections
from edgedet.runtime.errors import EdgedetError
from edgedet.runtime.frames import Frame

NAMES = ("__background__", "car", "person")
IMAGE = np.zeros((240, 320, 3), np.uint8)


def at(points, ids, labels=None) -> Detections:
    """Tracked detections whose bottom centres are ``points`` (10x20 boxes)."""
    pts = np.asarray(points, np.float32).reshape(-1, 2)
    boxes = np.stack([pts[:, 0] - 5, pts[:, 1] - 20, pts[:, 0] + 5, pts[:, 1]], axis=1)
    labels = np.ones(len(pts), np.int64) if labels is None else np.asarray(labels)
    return Detections(boxes, np.full(len(pts), 0.9), labels, NAMES, tracker_id=np.asarray(ids))


def walk(analytics: Analytics, frames: list[Detections], fps: float = 10.0) -> list:
    events = []
    for i, dets in enumerate(frames):
        events += analytics.update(Frame(i, IMAGE, 1000.0 + i, i / fps), dets)
    return events


def test_a_track_crossing_a_line_counts_once_in_its_direction():
    line = parse_line("door=50,100,250,100")  # walking a->b is eastward: "in" is south (y grows)
    down = [at([(150, 80 + 4 * f)], [7]) for f in range(12)]  # crosses y=100 between frames 5 and 6
    events = walk(analytics := Analytics([line]), down)
    assert events == [LineCrossed("door", 7, "car", "in", 8, 0.8)]  # told on its third frame past the line
    assert walk(Analytics([line], confirm=1), down) == [LineCrossed("door", 7, "car", "in", 6, 0.6)]
    up = [at([(150, 130 - 4 * f)], [8], [2]) for f in range(12)]
    events = walk(analytics, up)
    assert [(e.tracker_id, e.direction, e.label) for e in events] == [(8, "out", "person")]
    totals = analytics.totals().lines[0]
    assert (totals.crossed_in, totals.crossed_out) == (1, 1)
    assert totals.counts == {"in": {"car": 1}, "out": {"person": 1}}


def test_jitter_on_the_line_and_passes_beyond_its_ends_do_not_count():
    line = parse_line("door=50,100,250,100")
    jitter = [at([(150, 100 + (1.5 if f % 2 else -1.5))], [1]) for f in range(20)]  # within the 2 px margin
    beyond = [at([(300, 80 + 4 * f)], [2]) for f in range(12)]  # crosses the line's extension, not the segment
    assert walk(Analytics([line]), jitter) == []
    assert walk(Analytics([line]), beyond) == []
    # over the margin, back and forth a frame at a time: a flicker, never three frames on the new side ...
    swing = [at([(150, 100 + (5 if f % 2 else -5))], [3]) for f in range(6)]
    assert walk(Analytics([line]), swing) == []
    # ... unless asked to count every change of side
    assert [e.direction for e in walk(Analytics([line], confirm=1), swing)] == ["in", "out", "in", "out", "in"]
    # a half-hidden box's bottom jumping back over the line for two frames, then on: one crossing
    ys = [80, 90, 110, 95, 96, 115, 120, 125, 130]
    assert [(e.direction, e.frame) for e in walk(Analytics([line]), [at([(150, y)], [4]) for y in ys])] == [
        ("in", 7)]
    with pytest.raises(ValueError, match="confirm"):
        Analytics([line], confirm=0)


def test_a_diagonal_line_and_untracked_detections():
    line = parse_line("diag=0,0,200,200")  # a->b runs down-right; right-hand side is below-left
    assert signed_distance(np.array([[0.0, 100.0], [100.0, 0.0]]), line.a, line.b).tolist() == pytest.approx(
        [100 / np.sqrt(2), -100 / np.sqrt(2)])
    steps = [at([(60 + 10 * f, 140 - 10 * f)], [4]) for f in range(8)]  # from below-left to above-right
    # frame 4 is on the line (undecided): frame 5 is the first point past it, the crossing is told at frame 7
    assert [(e.direction, e.frame) for e in walk(Analytics([line]), steps)] == [("out", 7)]
    assert [(e.direction, e.frame) for e in walk(Analytics([line], confirm=1), steps)] == [("out", 5)]
    plain = Detections(np.array([[0, 0, 10, 10]]), np.ones(1), np.ones(1, np.int64), NAMES)
    assert Analytics([line]).update(Frame(0, IMAGE, 0.0, None), plain) == []


def test_segments_cross_against_hand_cases():
    a, b = np.array([0.0, 0.0]), np.array([10.0, 0.0])
    assert segments_cross(np.array([5.0, -1]), np.array([5.0, 1]), a, b)
    assert segments_cross(np.array([10.0, -1]), np.array([10.0, 1]), a, b)  # through an endpoint
    assert not segments_cross(np.array([11.0, -1]), np.array([11.0, 1]), a, b)
    assert not segments_cross(np.array([5.0, 1]), np.array([6.0, 2]), a, b)


def test_inside_depth_agrees_with_matplotlib():
    from matplotlib.path import Path as MplPath

    polygon = np.array([[20, 20], [200, 40], [160, 200], [90, 120], [30, 180]], np.float64)  # not convex
    points = np.random.default_rng(0).uniform(0, 220, (400, 2))
    depth = inside_depth(points, polygon)
    clear = np.abs(depth) > 1e-6
    assert ((depth > 0)[clear] == MplPath(polygon).contains_points(points)[clear]).all()
    assert inside_depth(np.array([[110.0, 30.0]]), np.array([[0, 0], [220, 0], [220, 220], [0, 220]]))[0] == 30


def test_a_zone_counts_entries_exits_dwell_and_occupancy():
    zone = parse_zone("lot=100,50,200,50,200,150,100,150")
    frames = []
    for f in range(30):  # track 1 walks east through the zone at 10 px per frame (x = 60 + 10 f)
        points, ids = [(60 + 10 * f, 100)], [1]
        if f < 10:  # track 2 appears inside (not an entry), leaves south at frame 6
            points.append((150, 120 + 6 * f))
            ids.append(2)
        frames.append(at(points, ids))
    analytics = Analytics([], [zone])
    events = walk(analytics, frames)
    # told on the third frame on the new side; dwell from the first frames inside and outside
    assert events == [ZoneEntered("lot", 1, "car", 7, 0.7), ZoneExited("lot", 2, "car", 8, 0.8, 0.6),
                      ZoneExited("lot", 1, "car", 17, 1.7, 1.0)]
    totals = analytics.totals().zones[0]
    assert (totals.entries, totals.exits, totals.max_occupancy, totals.inside_at_end) == (1, 2, 2, 0)
    assert totals.dwell_s == {"p50": 0.8, "max": 1.0, "mean": 0.8}


def test_a_track_hidden_inside_a_zone_does_not_exit_or_reenter():
    zone = parse_zone("lot=100,50,200,50,200,150,100,150")
    frames = [at([(80 + 10 * f, 100)], [5]) for f in range(5)]  # enters at frame 3 (x=110)
    frames += [at([], []) for _ in range(10)]  # hidden
    frames += [at([(150, 100)], [5]) for _ in range(3)]
    analytics = Analytics([], [zone])
    assert [type(e) for e in walk(analytics, frames)] == [ZoneEntered]
    assert analytics.totals().zones[0].inside_at_end == 1


@pytest.mark.parametrize(("text", "needle"), [
    ("door", "is not [SOURCE:]NAME=COORDINATES"),
    ("=1,2,3,4", "is not [SOURCE:]NAME=COORDINATES"),
    (":door=1,2,3,4", "is not [SOURCE:]NAME=COORDINATES"),
    ("door=1,2,3", "needs 4 numbers"),
    ("door=1,2,x,4", "are not numbers"),
    ("door=1,2,1,2", "its two points are the same"),
    ("door=1,2,nan,4", "finite"),
])
def test_bad_lines_are_refused_with_one_line(text, needle):
    with pytest.raises(EdgedetError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        parse_line(text)


def test_zones_and_per_source_specs():
    with pytest.raises(EdgedetError, match="3 or more"):
        parse_zone("z=1,2,3,4")
    with pytest.raises(EdgedetError, match="no area"):
        parse_zone("z=0,0,1,1,2,2")
    cam = parse_line("cam1:door=0,0,10,10")
    assert (cam.source, cam.name) == ("cam1", "door")
    every = parse_zone("lot=0,0,10,0,10,10")
    assert Analytics.for_source([cam], [every], "cam0").lines == []
    assert len(Analytics.for_source([cam], [every], "cam1").lines) == 1
    assert Analytics.for_source([cam], [], "cam0") is None
    with pytest.raises(EdgedetError, match="which this run does not have"):
        check_names([cam], [], ["cam0"])
    with pytest.raises(EdgedetError, match="two lines or zones named 'door'"):
        check_names([cam, parse_line("door=1,1,5,5")], [], ["cam1"])


def test_drawing_marks_lines_and_zones():
    analytics = Analytics([parse_line("door=20,200,300,200")], [parse_zone("lot=40,40,120,40,120,120")])
    image = np.zeros((240, 320, 3), np.uint8)
    analytics.draw(image)
    assert image[200, 160].any() and image[40, 80].any() and image[80, 80].any()  # line, edge, tinted inside
    assert not image[230, 160].any()


def test_events_follow_their_frame_in_json_lines_and_counts_are_drawn(tmp_path):
    """Through the sink fan-out (as the engine and the Ray driver call it): each event is its own record
    after its frame's, in a shared file with the stream's name; the drawn frame shows the line."""
    import json

    from edgedet.runtime.sinks import JsonlSink, Sink, write_to_sinks

    class Keep(Sink):
        wants_annotated = True

        def write(self, frame, detections, annotated) -> None:
            self.last = annotated

    log, keep = JsonlSink(tmp_path / "all.jsonl"), Keep()
    analytics = Analytics([parse_line("door=50,100,250,100")])
    for f in range(12):
        write_to_sinks([log.for_source("cam"), keep], Frame(f, IMAGE, 5.0 + f, None),
                       at([(150, 80 + 4 * f)], [3]), None, analytics)
    log.close()
    records = [json.loads(x) for x in (tmp_path / "all.jsonl").read_text().splitlines()]
    assert len(records) == 13 and all(r["source"] == "cam" for r in records)
    event = records[9]
    assert records[8]["frame"] == 8 and "event" not in records[8]
    assert event == {"source": "cam", "event": "line_crossed", "line": "door", "tracker_id": 3, "label": "car",
                     "direction": "in", "frame": 8, "time": 13.0}  # a live source's time: its capture time
    assert keep.last[100, 60].tolist() != [0, 0, 0] and keep.last is not IMAGE and not IMAGE.any()


def test_predicted_and_tracked_boxes_reach_every_sink(tmp_path):
    """A frame of tracked detections, some predicted (``--detect-every``), with a line and a zone, through
    the fan-out into a video, JSON Lines and the MJPEG preview (a real server, read over HTTP): each gets
    its frame, the JSON row says which boxes were predicted, the preview serves the drawn frame."""
    import json
    import threading
    import urllib.request

    import cv2

    from edgedet.runtime.preview_server import MjpegServer
    from edgedet.runtime.sinks import JsonlSink, VideoSink, write_to_sinks
    from edgedet.runtime.trails import Trails

    server = MjpegServer("127.0.0.1", 0)
    video, log = VideoSink(tmp_path / "v.mp4", 25), JsonlSink(tmp_path / "d.jsonl")
    analytics = Analytics([parse_line("door=0,100,320,100")], [parse_zone("lot=10,10,100,10,100,90")])
    trails, got = Trails(), {}
    stop = threading.Event()

    def read() -> None:
        with urllib.request.urlopen(server.url + "stream.mjpg", timeout=10) as resp:
            got["data"] = resp.read(40000)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        for f in range(30):
            dets = at([(150, 60 + 3 * f), (40, 50)], [1, 2])
            dets = Detections(dets.boxes, dets.scores, dets.labels, NAMES, tracker_id=dets.tracker_id,
                              predicted=np.array([f % 2 == 1, False]))
            write_to_sinks([video, log, server], Frame(f, IMAGE, float(f), f / 25), dets, trails, analytics)
            stop.wait(0.03)
        reader.join(10)
    finally:
        video.close()
        log.close()
        server.close()
    rows = [json.loads(x) for x in (tmp_path / "d.jsonl").read_text().splitlines()]
    frames = [r for r in rows if "event" not in r]
    assert [r["detections"][0].get("predicted", False) for r in frames] == [f % 2 == 1 for f in range(30)]
    assert all("predicted" not in r["detections"][1] for r in frames)
    assert [r["event"] for r in rows if "event" in r] == ["line_crossed"]
    cap = cv2.VideoCapture(str(tmp_path / "v.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 30
    assert got["data"].count(b"\xff\xd8") >= 1
