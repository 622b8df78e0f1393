"""Cold start: from a fresh process to the first result, per backend, with OpenVINO's model cache cold
(an empty ``EDGEDET_CACHE``) and warm (the entry the cold run wrote; ``runtime/openvino_cache.py``).

Each row is a new interpreter, so nothing is warm but what the row says: ``load`` is opening the model
(ONNX Runtime's session, or OpenVINO's read, conversion and compile), ``first`` the first frame's
detections, ``launch`` the time from starting the interpreter to those detections (interpreter,
imports of the runtime, load and first frame: what a Python service restarting pays), ``process``
the whole ``edgedet run MODEL --source IMAGE --max-frames 1`` command's wall time (interpreter,
imports, CLI, report and exit included). Medians of ``--repeats`` runs.

    python bench/cold_start.py --model runs/demo/model.onnx --image runs/demo/data/val/images/000000.jpg \
        --json cold.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx

from edgedet.runtime.model_metadata import ModelMetadata

PROBE = """
import json, sys, time
t0 = time.perf_counter()
launched = float(sys.argv[5])
from edgedet.runtime.images import read_rgb
from edgedet.runtime.loader import load_detector
image = read_rgb(sys.argv[4])
t1 = time.perf_counter()
det = load_detector(sys.argv[1], backend=sys.argv[2], precision=sys.argv[3])
t2 = time.perf_counter()
det([image])
t3 = time.perf_counter()
print(json.dumps({"load_s": t2 - t1, "first_s": t3 - t2, "launch_s": time.time() - launched}))
"""

ROWS = [("onnxruntime", "fp32"), ("openvino", "fp32"), ("openvino", "bf16")]


def probe(model: Path, backend: str, precision: str, image: Path, cache: Path) -> dict:
    env = {**os.environ, "EDGEDET_CACHE": str(cache)}
    r = subprocess.run([sys.executable, "-c", PROBE, str(model), backend, precision, str(image), repr(time.time())],
                       env=env,
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def process_wall(model: Path, backend: str, precision: str, image: Path, cache: Path) -> float:
    env = {**os.environ, "EDGEDET_CACHE": str(cache)}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "edgedet.cli.app", "run", str(model), "--source", str(image),
                    "--max-frames", "1", "--backend", backend, "--precision", precision], env=env,
                   capture_output=True, check=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--image", type=Path, required=True)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path, help="write the rows here (bench/report.py renders them)")
    args = ap.parse_args()
    rows = []
    props = {p.key: p.value for p in onnx.load(str(args.model), load_external_data=False).metadata_props}
    meta = ModelMetadata.from_props(props, str(args.model))
    described = f"{meta.architecture} @ {meta.canvas[0]}x{meta.canvas[1]} ({meta.precision})"
    print(f"{'backend':<12} {'precision':<9} {'cache':<5} {'load s':>7} {'first s':>8} {'to result s':>11} "
          f"{'launch s':>8} {'process s':>9}")
    for backend, precision in ROWS:
        caches = ["cold", "warm"] if backend == "openvino" else ["-"]
        for state in caches:
            runs, walls = [], []
            for _ in range(args.repeats):
                with tempfile.TemporaryDirectory() as tmp:
                    cache = Path(tmp)
                    if state == "warm":  # the entry a first start writes
                        probe(args.model, backend, precision, args.image, cache)
                    runs.append(probe(args.model, backend, precision, args.image, cache))
                    if state == "warm":
                        walls.append(process_wall(args.model, backend, precision, args.image, cache))
                    else:
                        fresh = Path(tmp) / "fresh"
                        walls.append(process_wall(args.model, backend, precision, args.image, fresh))
            load = float(np.median([r["load_s"] for r in runs]))
            first = float(np.median([r["first_s"] for r in runs]))
            launch = float(np.median([r["launch_s"] for r in runs]))
            wall = float(np.median(walls))
            print(f"{backend:<12} {precision:<9} {state:<5} {load:>7.2f} {first:>8.2f} {load + first:>11.2f} "
                  f"{launch:>8.2f} {wall:>9.2f}")
            rows.append({"model": described, "backend": backend, "precision": precision, "cache": state,
                         "load_s": round(load, 3), "first_s": round(first, 3), "to_result_s": round(load + first, 3),
                         "launch_to_result_s": round(launch, 3),
                         "process_s": round(wall, 3), "repeats": args.repeats})
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
