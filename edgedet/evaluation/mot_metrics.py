"""MOT metrics (HOTA, MOTA, IDF1, ID switches, fragmentations) from TrackEval, the benchmarks' own
implementation, run in an environment of its own.

TrackEval requires the ``opencv-python`` wheel, which would overwrite edgedet's headless OpenCV if both were
installed in one environment; so it lives in a virtual environment beside ours (made once, on first use, in
``~/.cache/edgedet/envs`` or ``EDGEDET_ENVS``), and ``trackeval_runner.py`` is run there on files written in
MOTChallenge's layout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from edgedet.runtime.errors import EdgedetError

TRACKEVAL = "trackeval==1.3.0"
RUNNER = Path(__file__).with_name("trackeval_runner.py")


@dataclass(frozen=True)
class TrackMetrics:
    """One tracker on one sequence (or on all of them: ``COMBINED_SEQ``), TrackEval's figures."""

    hota: float
    det_a: float
    ass_a: float
    mota: float
    idf1: float
    id_switches: int
    fragmentations: int
    true_positives: int
    false_negatives: int
    false_positives: int
    mostly_tracked: int
    mostly_lost: int

    @classmethod
    def of(cls, raw: Mapping[str, float]) -> TrackMetrics:
        return cls(round(raw["HOTA"], 5), round(raw["DetA"], 5), round(raw["AssA"], 5), round(raw["MOTA"], 5),
                   round(raw["IDF1"], 5), int(raw["IDSW"]), int(raw["Frag"]), int(raw["CLR_TP"]),
                   int(raw["CLR_FN"]), int(raw["CLR_FP"]), int(raw["MT"]), int(raw["ML"]))

    def to_json(self) -> dict:
        return asdict(self)


Row = tuple[int, int, float, float, float, float, float]  # frame (from 1), id, left, top, width, height, score


def envs_folder() -> Path:
    return Path(os.environ.get("EDGEDET_ENVS") or Path.home() / ".cache" / "edgedet" / "envs")


def environment(name: str, requirements: Sequence[str], folder: Path | None = None) -> Path:
    """The Python of a virtual environment holding ``requirements`` (made on first use: a half-made one is
    removed, never reused)."""
    root = (folder or envs_folder()) / name
    python = root / "bin" / "python"
    ready = root / ".edgedet-ready"
    if ready.is_file() and ready.read_text() == "\n".join(requirements) and python.exists():
        return python
    shutil.rmtree(root, ignore_errors=True)
    root.parent.mkdir(parents=True, exist_ok=True)
    uv = shutil.which("uv") or shutil.which("uv", path=str(Path(sys.executable).parent))
    try:
        if uv:
            steps = [[uv, "venv", "-q", "-p", sys.executable, str(root)],
                     [uv, "pip", "install", "-q", "--python", str(python), *requirements]]
        else:
            steps = [[sys.executable, "-m", "venv", str(root)], [str(python), "-m", "pip", "install", "-q",
                                                                 *requirements]]
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True, timeout=1800)
            if done.returncode != 0:
                tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["(no message)"]
                raise EdgedetError(f"could not install {', '.join(requirements)} into {root}: {tail[0]}; check "
                                   "that the package index is reachable")
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    ready.write_text("\n".join(requirements))
    return python


def write_layout(root: Path, gt: Mapping[str, Path], results: Mapping[str, Mapping[str, Sequence[Row]]]) -> None:
    """MOTChallenge's folders for TrackEval: each ground truth with every row as class 1 (TrackEval's
    MOTChallenge evaluates its one class; our shapes' classes are kept apart by the trackers, not here),
    and each tracker's rows."""
    for seq, path in gt.items():
        rows = []
        for line in path.read_text().splitlines():
            cols = line.strip().split(",")
            if len(cols) >= 6:
                cols += ["1"] * (9 - len(cols))
                cols[6], cols[7] = "1", "1"
                rows.append(",".join(cols[:9]))
        (root / "gt" / seq / "gt").mkdir(parents=True, exist_ok=True)
        (root / "gt" / seq / "gt" / "gt.txt").write_text("\n".join(rows) + "\n")
    for tracker, per_seq in results.items():
        data = root / "trackers" / tracker / "data"
        data.mkdir(parents=True, exist_ok=True)
        for seq in gt:
            rows = per_seq.get(seq, ())
            (data / f"{seq}.txt").write_text("".join(f"{f},{i},{x:.2f},{y:.2f},{w:.2f},{h:.2f},{s:.4f},-1,-1,-1\n"
                                                     for f, i, x, y, w, h, s in rows))


def mot_metrics(gt: Mapping[str, Path], lengths: Mapping[str, int],
                results: Mapping[str, Mapping[str, Sequence[Row]]],
                env: Path | None = None) -> dict[str, dict[str, TrackMetrics]]:
    """``results[tracker][sequence]`` rows against each sequence's ``gt.txt``: per tracker, each sequence's
    metrics and ``COMBINED_SEQ``'s."""
    python = env or environment("trackeval", [TRACKEVAL])
    with tempfile.TemporaryDirectory(prefix="edgedet-mot-") as tmp:
        root = Path(tmp)
        write_layout(root, gt, results)
        done = subprocess.run([str(python), str(RUNNER), str(root / "gt"), str(root / "trackers"),
                               json.dumps(dict(lengths))], capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["(no message)"]
        raise EdgedetError(f"TrackEval failed: {tail[0]}")
    raw = json.loads(done.stdout)
    return {tracker: {seq: TrackMetrics.of(values) for seq, values in per_seq.items()}
            for tracker, per_seq in raw.items()}
