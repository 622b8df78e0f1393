"""The synthetic tracking sequences and the tracking evaluation: deterministic MOTChallenge ground truth whose
true line crossings and zone entries agree with the runtime's own analytics fed the true boxes (two
implementations of the same geometry); TrackEval's figures checked by hand on a tiny case and perfect on the
ground truth itself; ``edgedet eval-tracks`` end to end."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgedet.data.synthetic_tracks import synthesize_tracking
from edgedet.evaluation.mot_metrics import TRACKEVAL, environment, mot_metrics
from edgedet.evaluation.tracking_eval import find_sequences
from edgedet.runtime.analytics import Analytics, LineCrossed, LineSpec, ZoneEntered, ZoneSpec
from edgedet.runtime.detections import Detections
from edgedet.runtime.frames import Frame
from edgedet.runtime.tracking import TRACKERS, TrackerSpec


@pytest.fixture(scope="module")
def sequences(tmp_path_factory):
    root = tmp_path_factory.mktemp("tracks")
    return synthesize_tracking(root, sequences=3, frames=120, seed=5)


def gt_rows(folder):
    return np.loadtxt(folder / "gt" / "gt.txt", delimiter=",").reshape(-1, 9)


def test_same_seed_same_files_other_seed_differs(tmp_path):
    """Also: a seed's first sequence is the same when more are asked for (the published figures' 20
    sequences extend the default 4)."""
    a = synthesize_tracking(tmp_path / "a", 1, 30, seed=1)[0]
    b, b2 = synthesize_tracking(tmp_path / "b", 2, 30, seed=1)
    c = synthesize_tracking(tmp_path / "c", 1, 30, seed=2)[0]
    for name in ("gt/gt.txt", "analytics.json", "seqinfo.ini", "video.avi"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / "gt" / "gt.txt").read_bytes() != (c / "gt" / "gt.txt").read_bytes()
    assert (b2 / "gt" / "gt.txt").read_bytes() != (b / "gt" / "gt.txt").read_bytes()
    assert not list(tmp_path.rglob("*.partial*"))


def test_ground_truth_is_motchallenge_and_varied(sequences):
    """Boxes inside the frame, ids from 1, a row per object per frame in view; the video has every frame;
    objects enter, leave, start in view and are hidden (by each other or the pillar)."""
    firsts, lasts, hidden = [], [], 0
    for folder in sequences:
        rows = gt_rows(folder)
        frame, ids = rows[:, 0].astype(int), rows[:, 1].astype(int)
        x, y, w, h, vis = rows[:, 2], rows[:, 3], rows[:, 4], rows[:, 5], rows[:, 8]
        assert frame.min() >= 1 and frame.max() <= 120 and ids.min() == 1
        assert (x >= 0).all() and (y >= 0).all() and (x + w <= 256).all() and (y + h <= 256).all() and (w > 0).all()
        assert ((vis >= 0) & (vis <= 1)).all() and set(rows[:, 7].astype(int)) <= {1, 2, 3, 4}
        assert len({(f, i) for f, i in zip(frame, ids)}) == len(rows)  # one row per object and frame
        hidden += int((vis < 0.5).sum())
        for tid in set(ids):
            firsts.append(frame[ids == tid].min())
            lasts.append(frame[ids == tid].max())
        cap = cv2.VideoCapture(str(folder / "video.avi"))
        n = 0
        while cap.read()[0]:
            n += 1
        assert n == 120
        info = (folder / "seqinfo.ini").read_text()
        assert "seqLength=120" in info and "frameRate=25" in info
    assert 1 in firsts and any(f > 1 for f in firsts) and any(f < 120 for f in lasts) and hidden > 0


def test_true_counts_agree_with_the_runtime_analytics_on_the_true_boxes(sequences):
    """The runtime's line and zone analytics (their default margin and confirmation, which the generator's
    truth uses), fed each frame's true boxes with their true ids, find exactly the crossings and entries,
    on the frames, that the generator wrote."""
    crossings = entries = 0
    for folder in sequences:
        truth = json.loads((folder / "analytics.json").read_text())
        rows = gt_rows(folder)
        lines = [LineSpec(ln["name"], tuple(tuple(p) for p in ln["points"])) for ln in truth["lines"]]
        zones = [ZoneSpec(z["name"], tuple(tuple(p) for p in z["polygon"])) for z in truth["zones"]]
        analytics = Analytics(lines, zones)  # its defaults: the margin, and a change of side confirmed over frames
        names = ("__background__", *truth["classes"])
        events = []
        for f in range(1, 121):
            r = rows[rows[:, 0] == f]
            boxes = np.stack([r[:, 2], r[:, 3], r[:, 2] + r[:, 4], r[:, 3] + r[:, 5]], axis=1)
            dets = Detections(boxes, np.ones(len(r)), r[:, 7].astype(int), names, tracker_id=r[:, 1].astype(int))
            events += analytics.update(Frame(f - 1, np.zeros((256, 256, 3), np.uint8), 0.0, (f - 1) / 25), dets)
        for line in truth["lines"]:
            mine = [(e.tracker_id, e.frame + 1, e.label, e.direction) for e in events
                    if isinstance(e, LineCrossed) and e.line == line["name"]]
            true = [(c["id"], c["frame"], c["label"], c["direction"]) for c in line["crossings"]]
            assert sorted(mine) == sorted(true), line["name"]
            crossings += len(true)
        for zone in truth["zones"]:
            mine = [(e.tracker_id, e.frame + 1) for e in events if isinstance(e, ZoneEntered)]
            assert sorted(mine) == sorted((c["id"], c["frame"]) for c in zone["entries"])
            entries += len(zone["entries"])
    assert crossings >= 6 and entries >= 1


@pytest.fixture(scope="module")
def trackeval_python():
    return environment("trackeval", [TRACKEVAL])


@pytest.mark.slow
def test_trackeval_on_a_hand_computed_case(tmp_path, trackeval_python):
    """Two objects over 4 frames. Object 1 is tracked throughout but its id changes at frame 3 (one ID
    switch); object 2 is missed at frame 3 (one false negative, one fragmentation); one false positive.
    By hand: MOTA = 1 - (FN 1 + FP 1 + IDSW 1) / 8 = 0.625; IDF1 = 2 IDTP / (8 + 8) with IDTP = 2 + 3,
    0.625; DetA = 7 / 9; AssA = (4 x 0.5 + 3 x 0.75) / 7; HOTA = sqrt(DetA AssA) (every IoU is 1)."""
    gt = tmp_path / "gt.txt"
    gt.write_text("".join(f"{f},1,{f - 1},0,10,10,1,1,1\n{f},2,50,50,10,10,1,1,1\n" for f in range(1, 5)))
    rows = [(1, 7, 0, 0, 10, 10, 1.0), (2, 7, 1, 0, 10, 10, 1.0), (3, 8, 2, 0, 10, 10, 1.0), (4, 8, 3, 0, 10, 10, 1.0),
            (1, 9, 50, 50, 10, 10, 1.0), (2, 9, 50, 50, 10, 10, 1.0), (4, 9, 50, 50, 10, 10, 1.0),
            (4, 5, 100, 100, 10, 10, 1.0)]
    m = mot_metrics({"tiny": gt}, {"tiny": 4}, {"t": {"tiny": rows}}, trackeval_python)["t"]["tiny"]
    assert (m.true_positives, m.false_negatives, m.false_positives, m.id_switches, m.fragmentations) == (7, 1, 1, 1, 1)
    assert m.mota == pytest.approx(0.625) and m.idf1 == pytest.approx(0.625)
    det_a, ass_a = 7 / 9, (4 * 0.5 + 3 * 0.75) / 7
    assert m.det_a == pytest.approx(det_a, abs=1e-5) and m.ass_a == pytest.approx(ass_a, abs=1e-5)
    assert m.hota == pytest.approx(np.sqrt(det_a * ass_a), abs=1e-5)


@pytest.mark.slow
def test_the_ground_truth_as_a_tracker_scores_perfectly(sequences, trackeval_python):
    results = {}
    for folder in sequences:
        rows = gt_rows(folder)
        results[folder.name] = [(int(r[0]), int(r[1]), *map(float, r[2:6]), 1.0) for r in rows]
    metrics = mot_metrics({f.name: f / "gt" / "gt.txt" for f in sequences}, {f.name: 120 for f in sequences},
                          {"truth": results}, trackeval_python)["truth"]
    combined = metrics["COMBINED_SEQ"]
    assert (combined.hota, combined.mota, combined.idf1) == (1.0, 1.0, 1.0)
    assert combined.true_positives == sum(len(gt_rows(f)) for f in sequences) and combined.id_switches == 0


@pytest.mark.slow
def test_eval_tracks_end_to_end(edge_onnx, sequences, trackeval_python, tmp_path):
    """``edgedet eval-tracks --json`` with the trained model: TrackEval saw every true box (its true
    positives plus false negatives are the ground truth's rows), every line and zone of every sequence is
    checked, and detecting every second frame is a run of its own with its own figures."""
    from tests.conftest import cli

    env_folder = trackeval_python.parents[2]  # the folder of environments this run already made
    data = sequences[0].parent
    runs = {}
    for every in (1, 2):
        r = cli("eval-tracks", edge_onnx, "--data", data, "--track", "sort", "--conf", "0.05",
                "--detect-every", every, "--metrics-env", env_folder, "--json")
        assert r.returncode == 0, r.stderr[-2000:]
        runs[every] = json.loads(r.stdout)
    for result in runs.values():
        combined = result["metrics"]["COMBINED_SEQ"]
        assert combined["true_positives"] + combined["false_negatives"] == sum(len(gt_rows(f)) for f in sequences)
        assert result["frames"] == 3 * 120 and result["sequences"] == [f.name for f in sequences]
        assert len(result["counts"]) == 3 * 3  # two lines and a zone per sequence
        assert result["lines_exact"] == sum(c["exact"] for c in result["counts"] if c["kind"] == "line") / 6
        for c in result["counts"]:  # errors: counted against true, label by label
            cells = [(k, label) for part in (c["counted"], c["truth"]) for k in part for label in part[k]]
            assert c["errors"] == sum(abs(c["counted"].get(k, {}).get(lb, 0) - c["truth"].get(k, {}).get(lb, 0))
                                      for k, lb in set(cells))
            assert (c["errors"] == 0) == c["exact"]
        assert result["count_errors"]["line"]["errors"] == sum(c["errors"] for c in result["counts"]
                                                               if c["kind"] == "line")
    assert runs[1]["metrics"] != runs[2]["metrics"]
    bad = cli("eval-tracks", edge_onnx, "--data", tmp_path, "--metrics-env", env_folder)
    assert bad.returncode == 2 and "no sequence in" in bad.stderr


def test_data_synth_tracking_from_the_cli(tmp_path):
    from tests.conftest import cli

    r = cli("data", "synth", tmp_path / "t", "--task", "tracking", "--sequences", "2", "--frames", "12", "--json")
    assert r.returncode == 0, r.stderr
    folders = [tmp_path / "t" / "seq-00", tmp_path / "t" / "seq-01"]
    assert json.loads(r.stdout) == {"sequences": [str(f) for f in folders]}
    assert all((f / "gt" / "gt.txt").is_file() and (f / "analytics.json").is_file() for f in folders)
    bad = cli("data", "synth", tmp_path / "u", "--task", "tracking", "--frames", "3")
    assert bad.returncode == 2 and "--frames" in bad.stderr


def test_tracking_frames_join_a_detection_split_with_their_true_boxes(tmp_path):
    """What the demo trains on besides still images: every other frame of sequences of its own seed, decoded
    from their video, with the MOTChallenge boxes of the shapes visible enough; the split stays valid COCO."""
    import json

    from edgedet.data.coco import load_split
    from edgedet.data.synthetic import synthesize
    from edgedet.data.synthetic_tracks import synthesize_tracking
    from edgedet.data.tracking_frames import add_tracking_frames

    synthesize(tmp_path / "data", 10, seed=0, size=(128, 128))
    before = json.loads((tmp_path / "data" / "train" / "annotations.json").read_text())
    added = add_tracking_frames(tmp_path / "data" / "train", seed=5, sequences=1, frames=20, every=2,
                                min_visibility=0.1)
    assert added == 10
    after = json.loads((tmp_path / "data" / "train" / "annotations.json").read_text())
    assert after["images"][:len(before["images"])] == before["images"]
    new = after["images"][len(before["images"]):]
    assert [im["file_name"] for im in new] == [f"track-5-seq-00-{f:04d}.png" for f in range(1, 21, 2)]
    # the same sequence rendered again: the boxes added are its ground truth's rows for those frames
    (folder,) = synthesize_tracking(tmp_path / "again", sequences=1, frames=20, seed=5)
    rows = np.loadtxt(folder / "gt" / "gt.txt", delimiter=",", ndmin=2)
    ids = {im["id"]: int(im["file_name"][-8:-4]) for im in new}
    got = sorted((ids[a["image_id"]], a["category_id"], *a["bbox"]) for a in after["annotations"]
                 if a["image_id"] in ids)
    want = sorted((int(r[0]), int(r[7]), *map(float, r[2:6])) for r in rows if r[0] % 2 == 1 and r[8] >= 0.1)
    assert got == want and got
    split = load_split(tmp_path / "data", "train")  # the loader the trainer uses accepts it
    assert len(split.images) == len(after["images"])


def counting_bench():
    """bench/counting.py as a module (bench/ is scripts, not a package)."""
    path = Path(__file__).resolve().parents[1] / "bench" / "counting.py"
    spec = importlib.util.spec_from_file_location("counting", path)
    counting = importlib.util.module_from_spec(spec)
    sys.modules["counting"] = counting  # its dataclasses look their module up while it loads
    spec.loader.exec_module(counting)
    return counting


def test_counting_bench_finds_by_visibility(sequences):
    """bench/counting.py's table of the detector alone, on detectors whose answer is known from the ground
    truth: the true boxes of the shapes at least 30 % visible find every box of the bands from 0.3 and none
    under, each under its own label, with nothing left unpaired; the same boxes under another label are
    found, never right; moved out of the frame they find nothing and are all unpaired; under
    the run's threshold they are not looked at."""
    counting = counting_bench()
    seqs = find_sequences(sequences[0].parent)
    rows = {s.name: counting.ground_truth(s) for s in seqs}
    truth = {s.name: counting.oracle_frames(s, rows[s.name], 0.3) for s in seqs}
    frames = sum(len(f) for f in truth.values())

    def changed(change) -> dict:
        return {name: [change(d) for d in dets] for name, dets in truth.items()}

    found = counting.found_by_visibility("truth", truth, rows, 0.25)
    assert sum(b.boxes for b in found.bands) == sum(len(r) for r in rows.values())
    assert sum(b.boxes for b in found.bands if b.low < 0.3) > 0 and found.bands[-1].high == 1.0
    assert [(b.found, b.labelled) for b in found.bands] == [(b.boxes * (b.low >= 0.3),) * 2 for b in found.bands]
    assert found.false_per_frame == 0.0
    n = len(seqs[0].truth["classes"])
    other = counting.found_by_visibility("relabelled", changed(lambda d: Detections(
        d.boxes, d.scores, d.labels % n + 1, d.class_names)), rows, 0.25)
    assert [b.found for b in other.bands] == [b.found for b in found.bands] and not any(b.labelled for b in other.bands)
    away = np.array([1000.0, 0.0, 1000.0, 0.0])  # right, past the frame's edge: IoU 0 with every true box
    moved = counting.found_by_visibility("moved", changed(lambda d: Detections(
        d.boxes + away, d.scores, d.labels, d.class_names)), rows, 0.25)
    shown = sum(b.found for b in found.bands)
    assert not any(b.found for b in moved.bands) and moved.false_per_frame == round(shown / frames, 3)
    weak = counting.found_by_visibility("weak", changed(lambda d: Detections(
        d.boxes, d.scores * 0.2, d.labels, d.class_names)), rows, 0.25)
    assert not any(b.found for b in weak.bands) and weak.false_per_frame == 0.0


def test_counting_bench_accounts_for_every_true_event(sequences):
    """bench/counting.py on the true boxes of every shape (its oracle at visibility 0): each tracker keeps
    every object's id across its lines and zones, so every true event is accounted counted under its own
    label, nothing is extra and every pair is exact; on the boxes of the shapes at least 30 % visible only,
    the events lost are accounted missed, each with the object's visibility where it crossed."""
    counting = counting_bench()
    seqs = find_sequences(sequences[0].parent)
    rows = {s.name: counting.ground_truth(s) for s in seqs}
    events = sum(len(counting.true_events(s)) for s in seqs)
    for visibility in (0.0, 0.3):
        frames = {s.name: counting.oracle_frames(s, rows[s.name], visibility) for s in seqs}
        for name in TRACKERS:
            result = counting.evaluate("truth", frames, seqs, rows, TrackerSpec(name), 0.25, 3)
            causes = result.causes()
            assert sum(v for k, v in causes.items() if k != "extra") == events == len(result.accounted)
            if visibility == 0.0:
                assert causes["counted"] == events and causes["extra"] == 0, (name, causes)
                assert all(c.exact for c in result.checks)
            else:
                missed = [a for a in result.accounted if a.outcome == "missed"]
                assert all(0.0 <= a.visibility <= 1.0 for a in missed)
                assert all(c.exact for c in result.checks) == (not missed and not result.extras)
