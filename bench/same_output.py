"""Does a change of the engine change what it writes? The JSON Lines of this checkout against those of an
older one (``--before DIR``), on the same video files, locally and through ``--ray local``.

Every frame's record is compared exactly (source, frame index, media time, every detection's box, score
and label as written), all but the capture time, which is a clock reading. Both trees run in this
interpreter's packages (``PYTHONPATH=DIR`` for the older one).

    git worktree add /tmp/before 407aa99
    python bench/same_output.py runs/demo/model.onnx --images runs/demo/data/val/images --before /tmp/before
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2

from edgedet.runtime.images import list_images, read_rgb


def write_videos(frames: list, counts: list[int], folder: Path) -> list[Path]:
    h, w = frames[0].shape[:2]
    paths = []
    for i, n in enumerate(counts):
        path = folder / f"video{i}.avi"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (w, h))
        for k in range(n):
            writer.write(cv2.cvtColor(frames[(k + 7 * i) % len(frames)], cv2.COLOR_RGB2BGR))
        writer.release()
        paths.append(path)
    return paths


def records(path: Path) -> dict[str, list[dict]]:
    """Per source, its frames' records in the order written, without the capture time."""
    out: dict[str, list[dict]] = {}
    for line in path.read_text().splitlines():
        record = json.loads(line)
        record.pop("captured", None)
        out.setdefault(record.get("source", ""), []).append(record)
    return out


def run(tree: Path | None, model: Path, videos: list[Path], jsonl: Path, extra: list[str]) -> None:
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    sources = [a for v in videos for a in ("--source", str(v))]
    cmd = [sys.executable, "-m", "edgedet.cli.app", "run", str(model), *sources, "--jsonl", str(jsonl), "--conf",
           "0.05", *extra]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1200)
    if r.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed: {r.stderr.strip().splitlines()[-1:]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path)
    ap.add_argument("--images", required=True)
    ap.add_argument("--before", type=Path, required=True, help="An older edgedet checkout.")
    ap.add_argument("--frames", type=int, nargs=3, default=[40, 25, 33], help="Frames of the three videos.")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--no-ray", action="store_true")
    args = ap.parse_args()
    frames = [read_rgb(p) for p in list_images(args.images)[:60]]
    modes = {"local": ["--batch", str(args.batch)]}
    if not args.no_ray:
        modes["ray"] = ["--batch", str(args.batch), "--ray", "local", "--workers", "2"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        videos = write_videos(frames, args.frames, tmp)
        results = {}
        for mode, extra in modes.items():
            for name, tree in (("after", None), ("before", args.before.resolve())):
                jsonl = tmp / f"{mode}_{name}.jsonl"
                run(tree, args.model, videos, jsonl, extra)
                results[(mode, name)] = records(jsonl)
        reference = results[("local", "before")]
        frames_total = sum(len(v) for v in reference.values())
        detections = sum(len(r["detections"]) for v in reference.values() for r in v)
        print(f"{len(videos)} videos ({', '.join(map(str, args.frames))} frames), before: {frames_total} frames, "
              f"{detections} detections")
        same_all = True
        for (mode, name), got in results.items():
            same = got == reference
            same_all &= same
            counts = {k: len(v) for k, v in got.items()}
            print(f"  {mode:5s} {name:6s}: {sum(counts.values())} frames {counts}  identical to local/before: {same}")
        print("IDENTICAL" if same_all else "DIFFERENT")
        sys.exit(0 if same_all else 1)


if __name__ == "__main__":
    main()
