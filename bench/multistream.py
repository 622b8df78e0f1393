"""Many streams on one box, measured so a busy machine cannot fake the answer.

Three questions, each answered by real ``edgedet run`` processes on real inputs (HTTP MJPEG cameras
served from this process by the runtime's own ``MjpegServer``, and MJPEG video files):

1. **Batched or separate?** One batched run with N sources against N single-source processes (the
   cores split between them, ``--threads`` = cores / N), for every N in ``--counts``, live cameras and
   files. Every row is repeated ``--repeats`` times, each repeat running every variant back to back
   (the order rotating), so a noisy minute hits all of them alike; the table gives the median
   aggregate fps, its spread (min-max) and the median ratio batched / separate.
2. **Pipelined or sequential?** (``--save-check``) One video file with ``--save out.mp4`` (decode,
   inference, drawing and H.264 encoding), against the code tree given by ``--before`` (the
   sequential engine), interleaved the same way.
3. **How many cameras?** (``--max-cameras``) The most ``--camera-fps`` cameras one run serves at full
   rate (at most 1 % of frames dropped, every camera within 3 % of the camera rate), adding one
   camera at a time, with the run options of ``--run-args`` (e.g. an int8 file on OpenVINO bf16).

``--parallel`` adds a batched run with ``--parallel CORES --threads 1`` (batches inferred on every core at
once); ``--after-args`` gives options to this checkout's runs only. ``--before DIR`` (a checkout of an
older edgedet, e.g. ``git worktree add /tmp/before 407aa99``) runs
every variant with that tree's code too (``PYTHONPATH=DIR``, same interpreter and packages), side by
side in the same rounds.

    python bench/multistream.py runs/demo/model.onnx --images runs/demo/data/val/images --json ms.json
    python bench/multistream.py runs/demo/model.int8.onnx --images runs/demo/data/val/images \\
        --kinds --max-cameras --run-args "--backend openvino --precision bf16" --before /tmp/before
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2

from edgedet.runtime.images import list_images, read_rgb
from edgedet.runtime.preview_server import MjpegServer

FULL_RATE_DROPS = 0.01
FULL_RATE_FPS = 0.97


@dataclass(frozen=True)
class Tree:
    """Which code runs: this checkout (``after``) or ``--before``'s, with options only it has."""

    name: str
    path: Path | None
    args: tuple[str, ...] = ()

    def command(self) -> list[str]:
        return [sys.executable, "-m", "edgedet.cli.app"]

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.path is not None:
            env["PYTHONPATH"] = str(self.path)
        return env


@dataclass(frozen=True)
class Outcome:
    """One run of one variant: what its reports say, and the CPU it used."""

    aggregate_fps: float
    min_stream_fps: float
    worst_e2e_p99_ms: float
    frames_in: int
    dropped: int
    cpu_cores: float


class Cameras:
    """``count`` HTTP MJPEG cameras on loopback, each publishing the frames in a loop at ``fps``."""

    def __init__(self, count: int, frames: list, fps: float) -> None:
        self.stop, self.servers = threading.Event(), [MjpegServer("127.0.0.1", 0) for _ in range(count)]
        for server in self.servers:
            threading.Thread(target=self._loop, args=(server, frames, fps), daemon=True).start()
        time.sleep(0.3)

    def _loop(self, server: MjpegServer, frames: list, fps: float) -> None:
        i, start = 0, time.perf_counter()
        while not self.stop.is_set():
            server.publish(frames[i % len(frames)])
            i += 1
            self.stop.wait(max(0.0, start + i / fps - time.perf_counter()))  # no drift: the camera's own clock

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{s.address[1]}/stream.mjpg" for s in self.servers]

    def close(self) -> None:
        self.stop.set()
        for server in self.servers:
            server.close()


def write_videos(count: int, frames: list, folder: Path) -> list[str]:
    paths = []
    h, w = frames[0].shape[:2]
    for i in range(count):
        path = folder / f"file{i}.avi"
        if not path.exists():
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (w, h))
            for f in frames:
                writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
            writer.release()
        paths.append(str(path))
    return paths


def run_children(tree: Tree, commands: list[list[str]], reports: list[Path]) -> Outcome:
    """Run the ``edgedet`` commands at once; their reports summed into one outcome."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    procs = [subprocess.Popen([*tree.command(), *c, *tree.args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True, env=tree.env()) for c in commands]
    for p in procs:
        _, err = p.communicate()
        if p.returncode:
            raise SystemExit(f"{tree.name}: {' '.join(map(str, p.args))} failed: {err.strip().splitlines()[-1:]}")
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    loaded = [json.loads(r.read_text()) for r in reports]
    streams = [s for r in loaded for s in r.get("sources", [r])]  # an old one-source report has no list
    run_wall = max(r["wall_s"] for r in loaded)
    processed = [s["frames_processed"] for s in streams]
    return Outcome(round(sum(processed) / run_wall, 1), round(min(processed) / run_wall, 1),
                   round(max(s["e2e_ms"]["p99"] for s in streams), 1), sum(s["frames_in"] for s in streams),
                   sum(s["frames_dropped"] for s in streams), round(cpu / wall, 2))


def batched(model: Path, specs: list[str], extra: list[str], cores: int, report: Path) -> tuple[list, list]:
    return [["run", str(model), *[a for s in specs for a in ("--source", s)], "--threads", str(cores), "--report",
             str(report), *extra]], [report]


def separate(model: Path, specs: list[str], extra: list[str], cores: int, tmp: Path) -> tuple[list, list]:
    each = max(1, cores // len(specs))
    reports = [tmp / f"sep{i}.json" for i in range(len(specs))]
    return [["run", str(model), "--source", s, "--threads", str(each), "--report", str(r), *extra]
            for s, r in zip(specs, reports)], reports


def rounds(variants: dict[str, object], repeats: int) -> dict[str, list[Outcome]]:
    """Every variant once per round, the order rotating each round; ``variants`` maps a name to a
    no-argument function that runs it."""
    names, results = list(variants), {name: [] for name in variants}
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            results[name].append(variants[name]())
    return results


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):6.1f} ({min(values):.1f}-{max(values):.1f})"


def batched_vs_separate(args: argparse.Namespace, trees: list[Tree], frames: list, tmp: Path) -> list[dict]:
    rows = []
    for kind in args.kinds:
        for n in args.counts:
            cams = Cameras(n, frames, args.fps) if kind == "live" else None
            specs = cams.urls if cams else write_videos(n, frames, tmp)
            extra = [*args.run_args, *(["--duration", str(args.duration)] if cams else [])]
            variants = {}
            for tree in trees:
                variants[f"{tree.name} batched"] = lambda t=tree, s=specs, e=extra: run_children(
                    t, *batched(args.model, s, e, args.cores, tmp / "batched.json"))
                if tree.name == "after" and args.parallel:  # this checkout's engine: batches on every core at once
                    variants["after parallel"] = lambda t=tree, s=specs, e=extra: run_children(
                        t, *batched(args.model, s, [*e, "--parallel", str(args.cores)], 1, tmp / "parallel.json"))
                variants[f"{tree.name} separate"] = lambda t=tree, s=specs, e=extra: run_children(
                    t, *separate(args.model, s, e, args.cores, tmp))
            try:
                results = rounds(variants, args.repeats)
            finally:
                if cams:
                    cams.close()
            for tree in trees:
                b, s = results[f"{tree.name} batched"], results[f"{tree.name} separate"]
                ratio = statistics.median(x.aggregate_fps / y.aggregate_fps for x, y in zip(b, s))
                row = {"kind": kind, "sources": n, "code": tree.name, "ratio_batched_over_separate": round(ratio, 3),
                       "batched": [asdict(o) for o in b], "separate": [asdict(o) for o in s]}
                rows.append(row)
                print(f"  {kind:4s} {n} sources [{tree.name:6s}] batched {spread([o.aggregate_fps for o in b])} fps"
                      f"  separate {spread([o.aggregate_fps for o in s])} fps  ratio {ratio:.3f}", flush=True)
                if f"{tree.name} parallel" in results:
                    p = results[f"{tree.name} parallel"]
                    ratio_p = statistics.median(x.aggregate_fps / y.aggregate_fps for x, y in zip(p, s))
                    row["parallel"], row["ratio_parallel_over_separate"] = [asdict(o) for o in p], round(ratio_p, 3)
                    print(f"  {kind:4s} {n} sources [{tree.name:6s}] batched --parallel {args.cores} --threads 1 "
                          f"{spread([o.aggregate_fps for o in p])} fps  ratio {ratio_p:.3f}", flush=True)
    return rows


def save_check(args: argparse.Namespace, trees: list[Tree], frames: list, tmp: Path) -> list[dict]:
    (video,) = write_videos(1, frames, tmp)
    variants = {}
    for tree in trees:
        def one(t=tree) -> Outcome:
            report = tmp / "save.json"
            return run_children(t, [["run", str(args.model), "--source", video, "--threads", str(args.cores),
                                     "--save", str(tmp / f"{t.name}.mp4"), "--report", str(report),
                                     *args.run_args]], [report])
        variants[tree.name] = one
    results = rounds(variants, args.repeats)
    rows = []
    for tree in trees:
        fps = [o.aggregate_fps for o in results[tree.name]]
        rows.append({"code": tree.name, "fps": fps, "median_fps": statistics.median(fps)})
        print(f"  one file with --save [{tree.name:6s}] {spread(fps)} fps", flush=True)
    if len(trees) == 2:
        ratio = statistics.median(a.aggregate_fps / b.aggregate_fps for a, b in zip(*results.values()))
        print(f"  {trees[0].name} / {trees[1].name}: {ratio:.3f} (median of paired rounds)")
        rows.append({"ratio": round(ratio, 3)})
    return rows


def full_rate(o: Outcome, fps: float) -> bool:
    return o.dropped <= FULL_RATE_DROPS * max(o.frames_in, 1) and o.min_stream_fps >= FULL_RATE_FPS * fps


def max_cameras(args: argparse.Namespace, trees: list[Tree], frames: list, tmp: Path) -> list[dict]:
    rows = []
    for tree in trees:
        served, tried = 0, []
        for n in range(1, args.max_cameras_limit + 1):
            cams = Cameras(n, frames, args.camera_fps)
            try:
                results = [run_children(tree, *batched(args.model, cams.urls, [*args.run_args, "--duration",
                                                                               str(args.duration)], args.cores,
                                                       tmp / "cams.json")) for _ in range(args.repeats)]
            finally:
                cams.close()
            ok = sum(full_rate(o, args.camera_fps) for o in results) * 2 > len(results)  # a majority of runs
            tried.append({"cameras": n, "full_rate": ok, "runs": [asdict(o) for o in results]})
            drops = [round(100 * o.dropped / max(o.frames_in, 1), 2) for o in results]
            print(f"  [{tree.name:6s}] {n} cameras at {args.camera_fps:g} fps: least-served "
                  f"{spread([o.min_stream_fps for o in results])} fps, dropped {drops} %"
                  f" -> {'full rate' if ok else 'NOT full rate'}", flush=True)
            if not ok:
                break
            served = n
        rows.append({"code": tree.name, "max_full_rate_cameras": served, "tried": tried})
        print(f"  [{tree.name:6s}] most {args.camera_fps:g}-fps cameras at full rate: {served}", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path)
    ap.add_argument("--images", required=True, help="Frames for the cameras and files (folder or glob).")
    ap.add_argument("--counts", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--kinds", nargs="*", default=["live", "file"], choices=["live", "file"],
                    help="Inputs of the batched-vs-separate table; give none to skip it.")
    ap.add_argument("--fps", type=float, default=30.0, help="Camera rate of the batched-vs-separate table.")
    ap.add_argument("--duration", type=float, default=8.0, help="Seconds per live run.")
    ap.add_argument("--frames", type=int, default=90, help="Frames per video file.")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--run-args", type=shlex.split, default=[], help="More 'edgedet run' options, quoted.")
    ap.add_argument("--before", type=Path, help="An older edgedet checkout to run side by side.")
    ap.add_argument("--after-args", type=shlex.split, default=[], help="'edgedet run' options for this checkout "
                    "only (the older one may lack them), quoted.")
    ap.add_argument("--parallel", action="store_true", help="Add a batched run with --parallel CORES --threads 1.")
    ap.add_argument("--save-check", action="store_true", help="One file with --save, this code against --before.")
    ap.add_argument("--max-cameras", action="store_true", help="The most cameras one run serves at full rate.")
    ap.add_argument("--camera-fps", type=float, default=25.0)
    ap.add_argument("--max-cameras-limit", type=int, default=12)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    frames = [read_rgb(p) for p in list_images(args.images)[:args.frames]]
    trees = [Tree("after", None, tuple(args.after_args))]
    if args.before:
        trees.append(Tree("before", args.before.resolve()))
    result: dict = {"model": str(args.model), "run_args": args.run_args, "cores": args.cores, "repeats": args.repeats}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.kinds:
            print("batched run vs separate processes (median aggregate fps, min-max):")
            result["batched_vs_separate"] = batched_vs_separate(args, trees, frames, tmp)
        if args.save_check:
            print("one video file with --save:")
            result["save_check"] = save_check(args, trees, frames, tmp)
        if args.max_cameras:
            print(f"most {args.camera_fps:g}-fps cameras at full rate:")
            result["max_cameras"] = max_cameras(args, trees, frames, tmp)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
