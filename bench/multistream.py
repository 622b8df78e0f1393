"""Many streams on one box: one batched ``edgedet run`` with N sources against N separate single-stream
``edgedet run`` processes side by side, for 1, 2, 4 and 8 sources, live MJPEG cameras at a fixed
frame rate and video files.

Live cameras are real HTTP MJPEG servers in this process (the runtime's own ``MjpegServer``),
publishing the demo's validation frames at ``--fps``; every configuration runs ``--duration``
seconds. Video files are read losslessly, so their figure is how fast N files get through. Each
row gives the aggregate fps, the least-served stream's fps, the worst stream's end-to-end p99 and
the CPU cores used (children's CPU seconds over wall time). Separate processes get the cores split
between them (``--threads`` each = cores / N, at least 1), the batched run all of them.

    python bench/multistream.py runs/demo/model.onnx --images runs/demo/data/val/images --json ms.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2

from edgedet.runtime.images import list_images, read_rgb
from edgedet.runtime.sinks import MjpegServer

EDGEDET = [sys.executable, "-m", "edgedet.cli.app"]


def cameras(count: int, frames: list, fps: float) -> tuple[list[str], threading.Event, list[MjpegServer]]:
    stop, servers = threading.Event(), []
    for _ in range(count):
        server = MjpegServer("127.0.0.1", 0)
        servers.append(server)

        def loop(server=server) -> None:
            i = 0
            while not stop.is_set():
                server.publish(frames[i % len(frames)])
                i += 1
                stop.wait(1.0 / fps)

        threading.Thread(target=loop, daemon=True).start()
    time.sleep(0.3)
    return [f"http://127.0.0.1:{s.address[1]}/stream.mjpg" for s in servers], stop, servers


def videos(count: int, frames: list, folder: Path) -> list[str]:
    paths = []
    h, w = frames[0].shape[:2]
    for i in range(count):
        path = folder / f"file{i}.avi"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (w, h))
        for f in frames:
            writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
        writer.release()
        paths.append(str(path))
    return paths


def timed_children(commands: list[list[str]]) -> tuple[float, float]:
    """Run the commands at once; (wall seconds, CPU seconds of the children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    procs = [subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for c in commands]
    for p in procs:
        _, err = p.communicate()
        if p.returncode:
            raise SystemExit(f"{' '.join(p.args)} failed: {err.strip().splitlines()[-1:]}")
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def row(kind: str, n: int, mode: str, reports: list[dict], wall: float, cpu: float) -> dict:
    streams = [s for r in reports for s in r.get("sources", [r])]
    processed = [s["frames_processed"] for s in streams]
    run_wall = max(r["wall_s"] for r in reports)
    return {"kind": kind, "sources": n, "mode": mode, "aggregate_fps": round(sum(processed) / run_wall, 1),
            "min_stream_fps": round(min(processed) / run_wall, 1),
            "worst_e2e_p99_ms": round(max(s["e2e_ms"]["p99"] for s in streams), 1),
            "dropped": sum(s["frames_dropped"] for s in streams), "cpu_cores": round(cpu / wall, 2),
            "batch_mean": round(reports[0]["batch_size"]["mean"], 2) if "batch_size" in reports[0] else 1.0}


def measure(model: Path, kind: str, specs: list[str], args: argparse.Namespace, tmp: Path) -> list[dict]:
    n = len(specs)
    limit = ["--duration", str(args.duration)] if kind == "live" else []
    batched = tmp / f"{kind}{n}_batched.json"
    cmd = [*EDGEDET, "run", str(model), *[a for s in specs for a in ("--source", s)], "--threads",
           str(args.cores), "--report", str(batched), *limit]
    wall, cpu = timed_children([cmd])
    rows = [row(kind, n, "one batched run", [json.loads(batched.read_text())], wall, cpu)]
    each = max(1, args.cores // n)
    reports = [tmp / f"{kind}{n}_{i}.json" for i in range(n)]
    wall, cpu = timed_children([[*EDGEDET, "run", str(model), "--source", s, "--threads", str(each), "--report",
                                 str(r), *limit] for s, r in zip(specs, reports)])
    rows.append(row(kind, n, f"{n} processes", [json.loads(r.read_text()) for r in reports], wall, cpu))
    for r in rows:
        print(f"  {r['kind']:5s} {r['sources']} sources, {r['mode']:16s} {r['aggregate_fps']:6.1f} fps "
              f"(least-served stream {r['min_stream_fps']:5.1f}), worst e2e p99 {r['worst_e2e_p99_ms']:7.1f} ms, "
              f"{r['dropped']} dropped, {r['cpu_cores']:.2f} cores", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path)
    ap.add_argument("--images", required=True, help="Frames for the cameras and files (folder or glob).")
    ap.add_argument("--counts", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--kinds", nargs="+", default=["live", "file"], choices=["live", "file"])
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--frames", type=int, default=90, help="Frames per video file.")
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    frames = [read_rgb(p) for p in list_images(args.images)[:args.frames]]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for kind in args.kinds:
            for n in args.counts:
                if kind == "live":
                    specs, stop, servers = cameras(n, frames, args.fps)
                    try:
                        rows += measure(args.model, kind, specs, args, tmp)
                    finally:
                        stop.set()
                        for s in servers:
                            s.close()
                else:
                    rows += measure(args.model, kind, videos(n, frames, tmp), args, tmp)
    print("| input | sources | how | aggregate fps | least-served stream fps | worst e2e p99 ms | dropped | "
          "CPU cores |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['kind']} | {r['sources']} | {r['mode']} | {r['aggregate_fps']:.1f} | {r['min_stream_fps']:.1f} | "
              f"{r['worst_e2e_p99_ms']:.1f} | {r['dropped']} | {r['cpu_cores']:.2f} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
