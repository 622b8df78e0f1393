"""``edgedet serve`` under load, against ``edgedet profile`` of the same file in the same run.

The server runs as a user runs it (``edgedet serve MODEL``, its own process, its own threads); a real HTTP
load generator (aiohttp's client: a third of httpx's CPU per request, 0.3 against 1.0 ms measured on
``/healthz``, and the client shares the server's cores) keeps ``c`` requests in flight for ``--seconds`` at
each concurrency, posting the images round-robin as raw JPEG bodies (images in other formats, such as the
demo's PNG val set, encoded first at ``--jpeg-quality``). Between the load levels, with the
server idle, this process profiles the same file on the same images (``edgedet profile``'s
``profile_stages``, batch 1, the same thread count): the baseline's throughput and end-to-end p50. The table
gives, per concurrency, requests/s, p50/p99 latency, errors, the server's RSS before and after, and the
ratios to the profile (``1 - rps / profile fps``: the server's overhead; ``p50 / profile p50``).

The client shares the machine's cores with the server: on a 2-core box its own CPU time is part of what
the server appears to cost.

    python bench/serve.py --model runs/demo/model.onnx --images data/shapes/val/images --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import cv2
import httpx
import numpy as np

from edgedet.runtime.images import list_images, read_rgb
from edgedet.runtime.onnx_detector import OnnxDetector
from edgedet.runtime.profiling import profile_stages
from edgedet.runtime.serve.app import ServeSettings
from edgedet.runtime.serve.upload import decode


def jpeg_body(path: Path, data: bytes, quality: int) -> bytes:
    """A JPEG file's bytes (``data``, read from ``path``) as they are; any other image (the demo's val set is
    PNG) encoded as a JPEG, as a camera or a client would send it."""
    if data[:3] == b"\xff\xd8\xff":
        return data
    bgr = cv2.cvtColor(read_rgb(path), cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise SystemExit(f"cannot encode {path} as JPEG")
    return encoded.tobytes()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def start_server(model: Path, threads: int | None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    args = [sys.executable, "-m", "edgedet.cli.app", "serve", str(model), "--port", str(port)]
    if threads:
        args += ["--threads", str(threads)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"edgedet serve exited: {proc.communicate()[1][-2000:]}")
        try:
            if httpx.get(f"{base}/readyz").status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("edgedet serve did not become ready in 120 s")
        time.sleep(0.2)


async def load(base: str, bodies: list[bytes], concurrency: int, seconds: float) -> dict:
    """``concurrency`` clients posting back to back for ``seconds``: latencies (ms) and errors."""
    latencies: list[float] = []
    errors = 0
    stop = time.monotonic() + seconds
    timeout = aiohttp.ClientTimeout(total=60)

    async def client_loop(session: aiohttp.ClientSession, offset: int) -> None:
        nonlocal errors
        i = offset
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            try:
                async with session.post("/v1/detect", data=bodies[i % len(bodies)],
                                        headers={"Content-Type": "image/jpeg"}) as r:
                    await r.read()
                    ok = r.status == 200
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            if ok:
                latencies.append((time.perf_counter() - t0) * 1e3)
            else:
                errors += 1
            i += concurrency

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base, connector=connector, timeout=timeout) as session:
        start = time.monotonic()
        await asyncio.gather(*(client_loop(session, k) for k in range(concurrency)))
        elapsed = time.monotonic() - start
    lat = np.asarray(latencies) if latencies else np.zeros(1)
    return {"concurrency": concurrency, "requests": len(latencies), "errors": errors,
            "rps": round(len(latencies) / elapsed, 2), "p50_ms": round(float(np.percentile(lat, 50)), 2),
            "p99_ms": round(float(np.percentile(lat, 99)), 2)}


def baseline(model: Path, frames: list[np.ndarray], threads: int | None, iters: int) -> dict:
    with OnnxDetector(model, threads=threads) as detector:
        r = profile_stages(detector, frames, batch=1, iters=iters, warmup=5)
    return {"fps": r["throughput_fps"], "p50_ms": r["total_ms"]["p50"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--images", required=True, help="Images (folder or glob): the request bodies, as JPEG")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--threads", type=int, default=None, help="Inference threads, server and profile alike")
    ap.add_argument("--profile-iters", type=int, default=100)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--jpeg-quality", type=int, default=95,
                    help="Quality of the JPEG bodies made from images that are not JPEG files already")
    args = ap.parse_args()

    paths = list_images(args.images)[:16]
    if not paths:
        raise SystemExit(f"no images at {args.images}")
    files = [p.read_bytes() for p in paths]
    bodies = [jpeg_body(p, data, args.jpeg_quality) for p, data in zip(paths, files)]
    made_from = sorted({p.suffix.lstrip(".").upper() for p, data, b in zip(paths, files, bodies) if b is not data})
    # the profile's frames are the pixels the server decodes from those bodies (its own decoder), so both
    # run the same images
    frames = [decode(p.name, b, ServeSettings().max_pixels).image for p, b in zip(paths, bodies)]
    proc, base = start_server(args.model, args.threads)
    rows, profiles = [], []
    try:
        for c in args.concurrency:
            profiles.append(baseline(args.model, frames, args.threads, args.profile_iters))  # server idle
            before = rss_mb(proc.pid)
            row = asyncio.run(load(base, bodies, c, args.seconds))
            row.update(rss_before_mb=round(before, 1), rss_after_mb=round(rss_mb(proc.pid), 1))
            rows.append(row)
        profiles.append(baseline(args.model, frames, args.threads, args.profile_iters))
    finally:
        proc.terminate()
        proc.wait(60)
    fps = float(np.median([p["fps"] for p in profiles]))
    p50 = float(np.median([p["p50_ms"] for p in profiles]))
    print(f"edgedet profile (batch 1, median of {len(profiles)} runs between the load levels): "
          f"{fps:.1f} images/s, end-to-end p50 {p50:.1f} ms  [{os.cpu_count()} cores]")
    print(f"{'conc':>4} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} {'RSS MB':>13} "
          f"{'overhead':>8} {'p50/prof':>8}")
    for r in rows:
        r["overhead_pct"] = round(100 * (1 - r["rps"] / fps), 1)
        r["p50_vs_profile"] = round(r["p50_ms"] / p50, 3)
        print(f"{r['concurrency']:>4} {r['rps']:>7.1f} {r['p50_ms']:>7.1f} {r['p99_ms']:>7.1f} {r['errors']:>6} "
              f"{r['rss_before_mb']:>6.0f}->{r['rss_after_mb']:<6.0f} {r['overhead_pct']:>7.1f}% "
              f"{r['p50_vs_profile']:>7.2f}x")
    if args.json:
        body = {"format": "JPEG", "quality": args.jpeg_quality if made_from else None, "encoded_from": made_from,
                "mean_kb": round(sum(map(len, bodies)) / len(bodies) / 1024, 1)}
        args.json.write_text(json.dumps({"profile": {"fps": fps, "p50_ms": p50, "runs": profiles}, "rows": rows,
                                         "bodies": body}, indent=2))


if __name__ == "__main__":
    main()
