"""The trackers against scenes whose true identities are known by construction: every object keeps one id
through crossings and occlusions, ids are never shared, unconfirmed blips are withheld, ByteTrack keeps a
track on low-score boxes, OC-SORT recovers an object that stopped while hidden (where SORT and ByteTrack
start a new track), classes stay apart, keypoints travel with their track; the batched Kalman filter equals
the textbook equations run one track at a time."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgedet.runtime.detections import Detections, Pose
from edgedet.runtime.errors import EdgedetError
from edgedet.runtime.tracking import TRACKERS, kalman, make_tracker

NAMES = ("__background__", "car", "person")


def dets(boxes, labels=None, scores=None, keypoints=None) -> Detections:
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    n = len(boxes)
    labels = np.ones(n, np.int64) if labels is None else labels
    scores = np.full(n, 0.9, np.float32) if scores is None else scores
    return Detections(boxes, scores, labels, NAMES, keypoints, Pose(("a", "b")) if keypoints is not None else None)


def crossing_scene(frames: int = 40):
    """Two cars of the same class crossing (their boxes overlap mid-way), the second hidden for five frames
    just after the crossing; each frame's objects with their true ids."""
    for f in range(frames):
        objs = [(1, [10 + 5 * f, 50, 40 + 5 * f, 80]), (2, [200 - 5 * f, 55, 230 - 5 * f, 85])]
        yield [o for o in objs if not (o[0] == 2 and 20 <= f < 25)]


def track_through(name: str, scene) -> list[dict[int, int]]:
    """Per frame: true id -> tracker id of the output (matched by box)."""
    tracker, seen = make_tracker(name), []
    for objs in scene:
        out = tracker.update(dets([box for _, box in objs]))
        frame = {}
        for box, tid in zip(out.boxes, out.tracker_id):
            truth = next(t for t, b in objs if np.allclose(b, box))
            frame[truth] = int(tid)
        seen.append(frame)
    return seen


@pytest.mark.parametrize("name", list(TRACKERS))
def test_ids_survive_a_crossing_and_an_occlusion(name):
    seen = track_through(name, crossing_scene())
    ids = {truth: {f[truth] for f in seen if truth in f} for truth in (1, 2)}
    assert ids[1] and ids[2] and len(ids[1]) == len(ids[2]) == 1, ids  # one id each, over the whole scene
    assert ids[1] != ids[2]
    assert all(2 not in f for f in seen[20:25])  # hidden: not output
    assert all(set(f) == {1, 2} for f in seen[3:20] + seen[26:])  # output whenever seen, once confirmed


def test_ocsort_with_no_detection_over_its_threshold_starts_nothing():
    """Frames whose every box is under ``det_thresh``: no track, no error (its columns do not exist yet)."""
    tracker = make_tracker("ocsort")
    weak = Detections(np.array([[10.0, 10, 40, 40]]), np.array([0.2]), np.array([1]), ("bg", "a"))
    for _ in range(3):
        assert len(tracker.update(weak)) == 0
    assert tracker.finish().started == 0


@pytest.mark.parametrize(("name", "frames_seen", "shown"), [
    ("sort", 2, False), ("ocsort", 2, False), ("sort", 3, True),  # min_hits = 3
    ("bytetrack", 1, False), ("bytetrack", 2, True),  # confirmed when matched the next frame
])
def test_a_blip_is_withheld_until_confirmed(name, frames_seen, shown):
    tracker = make_tracker(name)
    for _ in range(10):  # past the first frames, where a new track is shown at once
        tracker.update(dets([[10, 10, 40, 40]]))
    outputs = [tracker.update(dets([[10, 10, 40, 40]] + ([[100, 100, 130, 130]] if f < frames_seen else [])))
               for f in range(5)]
    blip = [any(box[0] == 100 for box in out.boxes) for out in outputs]
    assert any(blip) == shown, blip


def test_a_sort_track_on_probation_ends_at_its_first_miss():
    """A blip seen twice, gone a frame, then seen again in the same place: a new track on probation (its
    three matches in a row start over), not the old one confirmed by the return (which, coasting for
    ``max_age`` frames, would take real objects' detections); a confirmed track keeps its id through a gap."""
    tracker = make_tracker("sort")
    for _ in range(10):
        tracker.update(dets([[10, 10, 40, 40]]))
    car = int(tracker.update(dets([[10, 10, 40, 40]])).tracker_id[0])
    frames = [[[100, 100, 130, 130]]] * 2 + [[]] + [[[100, 100, 130, 130]]] * 3
    outputs = [tracker.update(dets([[10, 10, 40, 40]] + blip)) for blip in frames]
    assert len(tracker.tracks) == 2  # the car and the blip's second track: the first ended at its miss
    blip_ids = [[int(t) for t, b in zip(out.tracker_id, out.boxes) if b[0] == 100] for out in outputs]
    assert blip_ids[:5] == [[]] * 5 and len(blip_ids[5]) == 1  # shown at the third match after the gap
    assert blip_ids[5][0] not in (car, car + 1)  # the first blip track's id went with it
    gap = [tracker.update(dets([] if f < 3 else [[10, 10, 40, 40]])) for f in range(5)]
    assert [out.tracker_id.tolist() for out in gap[3:]] == [[car], [car]]


def test_bytetrack_keeps_a_track_on_low_scores_but_starts_none_from_them():
    tracker = make_tracker("bytetrack")
    ids = []
    for f in range(20):
        score = 0.3 if 8 <= f < 14 else 0.9  # partly occluded: the detector is unsure
        boxes = [[10 + 4 * f, 20, 40 + 4 * f, 60], [300, 300, 330, 330]]
        out = tracker.update(dets(boxes, scores=np.array([score, 0.3], np.float32)))
        ids.append([int(t) for t, b in zip(out.tracker_id, out.boxes) if b[0] < 200])
        assert not any(b[0] == 300 for b in out.boxes)  # a box that was only ever weak starts no track
    assert all(len(i) == 1 for i in ids) and len({i[0] for i in ids}) == 1, ids


def stop_while_hidden(name: str) -> list[list[int]]:
    """A car drives 10 px a frame, is hidden four frames, and is seen again where it was last seen (it
    stopped): a filter coasting on its velocity expects it 40 px further on."""
    tracker, seen = make_tracker(name), []
    for f in range(24):
        if 12 <= f < 16:
            tracker.update(dets([]))
            continue
        x = 10 + 10 * min(f, 11)
        seen.append(tracker.update(dets([[x, 40, x + 30, 70]])).tracker_id.tolist())
    return seen


def test_ocsort_recovers_an_object_that_stopped_while_hidden():
    """OCR matches the tracks left unmatched by their last observed box (the paper's recovery step)."""
    oc = stop_while_hidden("ocsort")
    assert {i for frame in oc for i in frame} == {1}, oc
    for name in ("sort", "bytetrack"):  # no recovery step: the car comes back as a new track
        ids = {i for frame in stop_while_hidden(name) for i in frame}
        assert len(ids) == 2, (name, ids)


@pytest.mark.parametrize("name", list(TRACKERS))
def test_classes_stay_apart_unless_agnostic(name):
    """A person riding with a car (their boxes nearly the same): per class, two tracks whose labels never
    change; class-agnostic, the one track per box takes its detections' majority label."""
    tracker = make_tracker(name)
    for f in range(12):
        out = tracker.update(dets([[10 + 3 * f, 10, 60 + 3 * f, 50], [12 + 3 * f, 11, 61 + 3 * f, 50]],
                                  labels=np.array([1, 2])))
    assert sorted(out.labels.tolist()) == [1, 2] and len(set(out.tracker_id.tolist())) == 2
    tracker = make_tracker(name, class_agnostic=True)
    for f in range(12):
        label = 2 if f in (3, 7) else 1  # the detector calls it a person twice
        out = tracker.update(dets([[10 + 3 * f, 10, 60 + 3 * f, 50]], labels=np.array([label])))
    assert out.tracker_id.tolist() == [1] and tracker.tracks.labels.tolist() == [1]


@pytest.mark.parametrize("name", list(TRACKERS))
def test_keypoints_travel_with_their_track(name):
    """Detections come in a different order each frame; each output row's joints are its own."""
    rng = np.random.default_rng(0)
    tracker = make_tracker(name)
    for f in range(10):
        boxes = np.array([[10 + 2 * f, 10, 40 + 2 * f, 50], [100, 20 + 2 * f, 140, 60 + 2 * f]], np.float32)
        joints = np.stack([np.tile(b[:2], (2, 1)) for b in boxes])
        joints = np.concatenate([joints, np.ones((2, 2, 1))], axis=2)
        order = rng.permutation(2)
        out = tracker.update(dets(boxes[order], keypoints=joints[order]))
        if len(out):
            np.testing.assert_array_equal(out.keypoints[:, 0, :2], out.boxes[:, :2])
    assert len(out) == 2 and [r["tracker_id"] for r in out.to_records()] == out.tracker_id.tolist()


def test_reset_starts_over_and_finish_counts_lengths():
    tracker = make_tracker("sort")
    for f in range(6):
        tracker.update(dets([[10 + f, 10, 40 + f, 40]]))
    lives = tracker.finish()
    assert (lives.started, lives.finished, lives.lengths) == (1, 1, [6])
    tracker.reset()
    out = [tracker.update(dets([[10, 10, 40, 40]])) for _ in range(3)][-1]
    assert out.tracker_id.tolist() == [1]


def test_bad_tracker_names_and_parameters_are_one_clear_error():
    with pytest.raises(EdgedetError, match="unknown tracker 'deepsort': use one of sort, bytetrack, ocsort"):
        make_tracker("deepsort")
    with pytest.raises(EdgedetError, match="tracker 'sort' has no parameter 'buffer': its parameters are "
                                           "iou_threshold, min_hits, max_age, class_agnostic"):
        make_tracker("sort", buffer=3)
    with pytest.raises(EdgedetError, match="tracker 'sort': min_hits and max_age must be at least 1"):
        make_tracker("sort", min_hits=0)
    with pytest.raises(EdgedetError, match="low_thresh must be in"):
        make_tracker("bytetrack", track_thresh=0.3, low_thresh=0.5)


@pytest.mark.parametrize("model", [kalman.ScaleAreaModel(), kalman.AspectHeightModel(), kalman.CornerModel()],
                         ids=["xysr", "xyah", "corners"])
def test_batched_filter_equals_the_textbook_one_track_at_a_time(model):
    rng = np.random.default_rng(1)
    boxes = np.array([[10, 20, 50, 80], [100, 100, 130, 160], [5, 5, 25, 15]], np.float64)
    mean, cov = model.initial(model.encode(boxes))
    mean[:, 4:6] = rng.normal(0, 2, (3, 2))
    mean, cov = kalman.predict(model, mean, cov)
    seen = boxes + rng.normal(0, 2, boxes.shape)
    got_mean, got_cov = kalman.update(model, mean, cov, seen)
    for i in range(3):
        F, H = model.F, model.H
        R = np.broadcast_to(model.measurement_noise(mean[i:i + 1]), (1, 4, 4))[0]  # per track, or one for all
        S = H @ cov[i] @ H.T + R
        K = cov[i] @ H.T @ np.linalg.inv(S)
        z = model.encode(seen[i:i + 1])[0]
        np.testing.assert_allclose(got_mean[i], mean[i] + K @ (z - H @ mean[i]), rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(got_cov[i], (np.eye(F.shape[0]) - K @ H) @ cov[i], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(model.decode(model.encode(boxes)), boxes, atol=1e-9)


def edge_entry_scene(frames: int = 40):
    """A 40x40 box coming down into view through the top edge (cut by it: a sliver growing 3 px a frame),
    then moving on at the same speed, fully in view; a second car far off, for company."""
    for f in range(frames):
        bottom = 4 + 3 * f
        yield [(1, [100, max(0, bottom - 40), 140, bottom]), (2, [10, 150, 40, 180])]


def test_sorts_corner_state_follows_a_box_growing_in_through_the_edge():
    """With the corners (the default) one id from first sight to the end, and while the box grows in its
    predicted box (what association matches) stays within 3 px of the truth; the paper's area and constant
    aspect ratio (``state="xysr"``) start from the sliver's shape and are off by 7-9 px over those frames."""
    seen = track_through("sort", edge_entry_scene())
    assert len({f[1] for f in seen if 1 in f}) == 1 and all(1 in f for f in seen[3:])
    worst = {}
    for state in ("corners", "xysr"):
        tracker, errors = make_tracker("sort", state=state), []
        for objs in edge_entry_scene(12):  # frames 0-11: cut by the edge
            t = tracker.tracks
            if len(t):
                row = int(np.argmin(np.abs(t.boxes()[:, 0] - 100)))  # the entering box's track
                mean, _ = kalman.predict(t.model, t.mean, t.cov)
                errors.append(float(np.abs(t.model.decode(mean)[row] - np.array(objs[0][1])).max()))
            tracker.update(dets([box for _, box in objs]))
        worst[state] = max(errors[1:])  # after the first prediction (no rates known yet)
    assert worst["corners"] <= 3.0 and worst["xysr"] > 7.0, worst
    with pytest.raises(EdgedetError, match="state must be one of"):
        make_tracker("sort", state="xyah")


def test_detections_carry_tracker_ids_through_indexing_and_json():
    d = dets([[0, 0, 10, 10], [5, 5, 20, 20]]).with_tracker_ids(np.array([7, 9]))
    assert d[np.array([1])].tracker_id.tolist() == [9]
    assert [r["tracker_id"] for r in d.to_records()] == [7, 9]
    assert "tracker_id" not in dets([[0, 0, 10, 10]]).to_records()[0]
    with pytest.raises(ValueError, match="1 tracker ids for 2 detections"):
        dets([[0, 0, 10, 10], [5, 5, 20, 20]]).with_tracker_ids(np.array([1]))


def test_the_cli_names_every_tracker():
    from edgedet.cli.options import TrackerName

    assert {t.value for t in TrackerName} == set(TRACKERS)


def test_the_cli_counts_after_the_runtimes_default_frames():
    from edgedet.cli.options import COUNT_AFTER
    from edgedet.runtime.analytics import CONFIRM_FRAMES
    from edgedet.runtime.engine import StreamOptions

    assert COUNT_AFTER == CONFIRM_FRAMES == StreamOptions().count_after


@pytest.mark.slow
@pytest.mark.parametrize("name", list(TRACKERS))
def test_a_tracked_run_writes_ids_and_times_the_tracker(onnx_model, video_file, tmp_path, name):
    """The engine with a tracker: every row of the JSON Lines has an id, and is one of the detector's own
    detections of that frame (a tracker returns a subset of its input: the run without one is the oracle);
    the report has the ``track`` stage, once per frame, and still validates."""
    from edgedet.runtime.engine import Stream, StreamOptions, run_engine
    from edgedet.runtime.onnx_detector import OnnxDetector
    from edgedet.runtime.sinks import JsonlSink, VideoSink
    from edgedet.runtime.sources import VideoFileSource
    from edgedet.runtime.tracking import TrackerSpec
    from tests.runtime.conftest import assert_valid_report, count_video_frames

    path, n = video_file
    # the seeded model's scores are low: ByteTrack's high pass from 0.2 (its low one from 0.05), OC-SORT's
    # detections from 0.05
    params = {"bytetrack": {"track_thresh": 0.2, "low_thresh": 0.05}, "ocsort": {"det_thresh": 0.05}}
    spec = TrackerSpec(name, params.get(name, {}))
    floor = spec.make().score_floor(0.05)
    runs = {}
    with OnnxDetector(onnx_model) as det:
        for label, opts in (("plain", StreamOptions(conf=floor)), ("tracked", StreamOptions(conf=0.05, track=spec))):
            sinks = [JsonlSink(tmp_path / f"{label}.jsonl")] + ([VideoSink(tmp_path / "t.mp4", 30)]
                                                               if label == "tracked" else [])
            report = run_engine(det, [Stream("v", VideoFileSource(str(path)), sinks)], opts).to_json()
            runs[label] = [json.loads(x)["detections"] for x in (tmp_path / f"{label}.jsonl").read_text().splitlines()]
    assert_valid_report(report)
    assert report["stages_ms"]["track"]["count"] == n and count_video_frames(tmp_path / "t.mp4") == n
    tracks = report["sources"][0]["tracks"]
    ids = {row["tracker_id"] for frame in runs["tracked"] for row in frame}
    assert tracks["tracker"] == name and tracks["started"] == tracks["finished"] == len(ids) > 0, tracks
    assert 1 <= tracks["length_frames"]["p50"] <= tracks["length_frames"]["max"] <= n
    tracked = [row for frame in runs["tracked"] for row in frame]
    assert tracked and all(isinstance(row["tracker_id"], int) and row["tracker_id"] >= 1 for row in tracked)
    for plain, mine in zip(runs["plain"], runs["tracked"]):
        boxes = {(tuple(r["box"]), r["label"]) for r in plain}
        assert all((tuple(r["box"]), r["label"]) in boxes for r in mine)
        assert len({r["tracker_id"] for r in mine}) == len(mine)  # an id once per frame


def test_ocsort_re_update_equals_observing_the_interpolated_boxes():
    """ORU's oracle: a track hidden for a gap, re-updated when seen again, has the filter state of the same
    track observed at the boxes interpolated over the gap. Two cars with gaps of different lengths (5 and
    3 frames) are re-updated in the same frame, so the batched replay is checked for each length."""
    def box(car: int, f: float) -> np.ndarray:
        return np.array([10 + 4 * f, 20 + 60 * car, 40 + 4 * f, 50 + 60 * car], np.float64)

    hidden = {0: range(10, 14), 1: range(12, 14)}  # car 0 unseen frames 10-13, car 1 frames 12-13
    last_seen = {0: 9, 1: 11}
    gapped, observed = make_tracker("ocsort"), make_tracker("ocsort")
    for f in range(15):
        seen = [box(c, f) for c in (0, 1) if f not in hidden[c]]
        gapped.update(dets(seen))
        filled = []
        for c in (0, 1):
            if f in hidden[c]:  # where ORU will put it: linear between the last and the next observation
                k = (f - last_seen[c]) / (14 - last_seen[c])
                filled.append(box(c, last_seen[c]) + (box(c, 14) - box(c, last_seen[c])) * k)
            else:
                filled.append(box(c, f))
        observed.update(dets(filled))
    for tracker in (gapped, observed):
        assert tracker.tracks.ids.tolist() == [1, 2]
    np.testing.assert_allclose(gapped.tracks.mean, observed.tracks.mean, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(gapped.tracks.cov, observed.tracks.cov, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", list(TRACKERS))
def test_coasting_carries_shown_tracks_at_their_predicted_boxes(name):
    """``coast()`` (a frame the detector skipped): the tracks shown on the last detected frame, at their
    motion model's next boxes (a box moving 4 px a frame goes on moving about 4 px a frame), flagged
    predicted, with their last scores; the next detection keeps the id and clears the flag."""
    tracker = make_tracker(name)
    for f in range(8):
        shown = tracker.update(dets([[10 + 4 * f, 50, 40 + 4 * f, 80]], scores=np.array([0.8 - 0.01 * f])))
    assert len(shown) == 1 and shown.predicted is None
    tid = int(shown.tracker_id[0])
    for k in (1, 2):
        carried = tracker.coast()
        assert carried.tracker_id.tolist() == [tid] and carried.predicted.tolist() == [True]
        assert carried.scores.tolist() == pytest.approx([0.73])
        assert carried.boxes[0] == pytest.approx([38 + 4 * k, 50, 68 + 4 * k, 80], abs=1.5)
        assert carried.to_records()[0]["predicted"] is True
    back = tracker.update(dets([[50, 50, 80, 80]]))
    assert back.tracker_id.tolist() == [tid] and back.predicted is None
    assert "predicted" not in back.to_records()[0]
    tracker.reset()
    assert len(tracker.coast()) == 0


def test_detecting_every_third_frame_runs_the_detector_on_a_third(onnx_model, video_file, tmp_path):
    """``detect_every=3`` in the engine: the detector runs on frames 0, 3, 6, ...; every other frame's rows
    are the tracker's predicted boxes; every frame is still written, and drawn (the video has them all)."""
    from edgedet.runtime.engine import Stream, StreamOptions, run_engine
    from edgedet.runtime.onnx_detector import OnnxDetector
    from edgedet.runtime.sinks import JsonlSink, VideoSink
    from edgedet.runtime.sources import VideoFileSource
    from edgedet.runtime.tracking import TrackerSpec
    from tests.runtime.conftest import assert_valid_report, count_video_frames

    path, n = video_file
    opts = StreamOptions(conf=0.05, track=TrackerSpec("sort", {}), detect_every=3)
    with OnnxDetector(onnx_model) as det:
        sinks = [JsonlSink(tmp_path / "d.jsonl"), VideoSink(tmp_path / "d.mp4", 30)]
        report = run_engine(det, [Stream("v", VideoFileSource(str(path)), sinks)], opts).to_json()
    frames = [json.loads(x) for x in (tmp_path / "d.jsonl").read_text().splitlines()]
    assert [f["frame"] for f in frames] == list(range(n)) and count_video_frames(tmp_path / "d.mp4") == n
    assert report["stages_ms"]["inference"]["count"] == -(-n // 3) and report["stages_ms"]["track"]["count"] == n
    for f in frames:
        flags = {row.get("predicted", False) for row in f["detections"]}
        assert flags <= ({False} if f["frame"] % 3 == 0 else {True}), f
    assert any(f["detections"] for f in frames if f["frame"] % 3)  # tracks were carried
    assert_valid_report(report)
