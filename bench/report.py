"""docs/results.md's generated tables, from the JSON the benchmarks write: one source for every figure,
so a table cannot disagree with its measurement (tests/test_results_tables.py fails when one does).

A measurement lives in ``results/NAME.json``: the benchmark's own ``--json`` output under ``data``, with
the command that made it, the date and the host. In docs/results.md a generated table stands between
``<!-- generated: NAME -->`` and ``<!-- end: NAME -->``; the prose around it is written by hand.

    python bench/report.py add serve /tmp/serve.json --command "python bench/serve.py ... --json /tmp/serve.json"
    python bench/report.py render       # rewrite every generated table in docs/results.md
    python bench/report.py check        # exit 1 when a table differs from its JSON
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS, PAGE = ROOT / "results", ROOT / "docs" / "results.md"
BLOCK = re.compile(r"(<!-- generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- end: (?P=name) -->)", re.S)


def host() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
                 platform.processor())
    return f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}"


def table(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join(["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |",
                      *("| " + " | ".join(r) + " |" for r in rows)])


def serve(data: dict) -> str:
    rows = [[str(r["concurrency"]), f"{r['rps']:.1f}", f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}", str(r["errors"]),
             f"{r['rss_before_mb']:.0f} → {r['rss_after_mb']:.0f}", f"{r['overhead_pct']:.1f} %",
             f"{r['p50_vs_profile']:.2f}x"] for r in data["rows"]]
    p = data["profile"]
    return (table(["concurrency", "req/s", "p50 ms", "p99 ms", "errors", "server RSS MB", "req/s below profile",
                   "p50 / profile's"], rows)
            + f"\n\nProfile: {p['fps']:.1f} images/s, end-to-end p50 {p['p50_ms']:.1f} ms (median of {len(p['runs'])} "
            "runs between the levels).")


def tracking_accuracy(data: list[dict]) -> str:
    by = {(r["tracker"], r["impl"]): r for r in data}
    rows = []
    for name in dict.fromkeys(r["tracker"] for r in data):
        ours, peer = by[(name, "edgedet")], by[(name, "trackers")]
        rows.append([name, *(f"{side[k]:.3f}" for k in ("hota", "idf1", "mota") for side in (ours, peer)),
                     f"{ours['id_switches']} / {peer['id_switches']}"])
    return table(["tracker", "HOTA ours", "HOTA peer", "IDF1 ours", "IDF1 peer", "MOTA ours", "MOTA peer",
                  "ID switches ours / peer"], rows)


def _ms(v: float) -> str:
    return f"{v:.2f}" if v < 10 else f"{v:.1f}"


def tracking_speed(data: list[dict]) -> str:
    p50 = {(r["tracker"], r["impl"], r["boxes"]): r["p50_ms"] for r in data}
    sizes = sorted({r["boxes"] for r in data})
    header = ["tracker", *(f"{who} @{n}" for n in sizes for who in ("ours", "peer"))]
    rows = [[name, *(_ms(p50[(name, impl, n)]) for n in sizes for impl in ("edgedet", "trackers"))]
            for name in dict.fromkeys(r["tracker"] for r in data)]
    return table(header, rows)


def detect_every(data: list[dict]) -> str:
    import statistics

    ns = list(dict.fromkeys(r["detect_every"] for r in data))
    fps = {n: statistics.median(r["fps"] for r in data if r["detect_every"] == n) for n in ns}
    first = {n: next(r for r in data if r["detect_every"] == n) for n in ns}  # the scores do not vary by round
    rows = [[str(n), f"{fps[n]:.1f}", f"{fps[n] / fps[ns[0]]:.2f}x", *(f"{first[n][k]:.3f}" for k in
                                                                       ("hota", "idf1", "mota"))] for n in ns]
    return table(["N", "fps", f"vs N = {ns[0]}", "HOTA", "IDF1", "MOTA"], rows)


DEMO_STEPS = {"synth": "synth (still images + tracking frames)", "train": "train", "eval": "eval (eager)",
              "export": "export (dynamic batch)", "check": "check (parity, 8 images, batch 1 and 4)",
              "onnx_eval": "eval (ONNX)", "stream": "stream (90-frame video → annotated mp4 + JSON Lines)",
              "profile": "profile", "cpu_fast": "cpu_fast (INT8 quantize + gate, bf16/INT8 evaluations, "
              "`edgedet profile` of every CPU path)"}
DEMO_PATHS = {"fp32": "ONNX Runtime fp32 (exported file)", "ov_fp32": "OpenVINO fp32",
              "bf16": "OpenVINO bf16 (`bf16_map50`)",
              "int8_onnxruntime": "INT8 file (`edgedet quantize`), ONNX Runtime",
              "int8": "INT8 file, OpenVINO (`int8_map50`)",
              "int8_bf16": "INT8 file, OpenVINO, bf16 rest (`int8_bf16_map50`)"}


def demo(data: dict) -> str:
    """``edgedet demo``'s own report.json: its steps' seconds, each CPU path's mAP@.5 and latency."""
    sec = data["seconds"]
    steps = table(["step", "seconds"], [[DEMO_STEPS.get(k, k), f"{v:.1f}"] for k, v in sec.items() if k != "total"]
                  + [["**total**", f"**{sec['total']:.1f}**"]])
    rows = [["eager PyTorch", f"{data['map']:.3f}", f"{data['map50']:.3f}", ""]]
    for r in data["cpu_paths"]["rows"]:
        first = f"{data['onnx_map']:.3f}" if r["path"] == "fp32" else ""
        m50 = "—" if r["map50"] is None else f"{r['map50']:.3f}"
        rows.append([DEMO_PATHS.get(r["path"], r["path"]), first, m50,
                     f"{r['inference_p50_ms']:.1f} ms ({r['speedup_vs_fp32']:.2f}×)"])
    paths = table(["", "mAP@[.5:.95]", "mAP@.5", "inference p50 (`edgedet profile`, 40 runs, interleaved)"], rows)
    par, prof = data["parity"], data["profile"]
    per_class = ", ".join(f"{k} {v:.3f}" for k, v in data["per_class"].items())
    overhead = prof["overhead_pct_of_inference"]
    facts = (f"Per class AP@[.5:.95]: {per_class}. Parity: {par['matched']} of {par['reference_detections']} eager "
             f"detections matched, {par['missing']} missing, {par['extra']} extra, minimum IoU {par['iou_min']:.6f}, "
             f"largest score difference {par['score_diff_max']:.1e}. Streaming the val video: "
             f"{data['stream']['fps']:.1f} fps. Profile (batch 1, {prof['iters']} runs): inference p50 "
             f"{prof['inference_ms']['p50']:.1f} ms; the runtime's own work per frame is {overhead:.1f} % of it.")
    return f"{steps}\n\n{paths}\n\n{facts}"


def budget_sweep(data: list[dict]) -> str:
    rows = []
    for r in data:
        default = r["default"]  # the model's own budget, the one the others are measured against
        change = "—" if default else f"{r['map50_change']:+.3f}".replace("-", "−")
        rows.append([f"{r['proposals']}{' (the model' + chr(39) + 's default)' if default else ''}",
                     f"{r['map50']:.3f}", change, f"{r['map']:.3f}", f"{r['latency_p50_ms']:.1f} ms",
                     f"{r['speedup_vs_default']:.2f}×", "yes" if r["parity_ok"] else "**no**"])
    return table(["proposals", "mAP@.5", "change", "mAP", "inference p50", "speed-up", "parity with eager"], rows)


def svd_curve(data: list[dict]) -> str:
    def change(r: dict, key: str) -> str:
        return "" if r["ranks"] == "full" else f" ({r['map50 change ' + key]:+.3f})".replace("-", "−")

    rows = []
    for r in data:
        ranks = "unfactored" if r["ranks"] == "full" else ", ".join(f"{k}={v}" for k, v in r["ranks"].items())
        rows.append([ranks, f"{100 * r['head_cost']:.0f} %",
                     *(f"{r['map50 ' + key]:.3f}{change(r, key)}" for key in ("onnxruntime fp32", "openvino bf16")),
                     *(f"{r['p50 ' + key]:.1f} ms ({r['speedup ' + key]:.2f}×)"
                       for key in ("onnxruntime fp32", "openvino bf16")),
                     "yes" if r["parity_ok"] else "**no**"])
    return table(["ranks", "head FC cost", "mAP@.5 ORT fp32", "mAP@.5 OpenVINO bf16", "p50 ORT fp32",
                  "p50 OpenVINO bf16", "exact vs factored eager"], rows)


def _proposals(path: str) -> int | None:
    found = re.search(r", (\d+) proposals", path)
    return int(found.group(1)) if found else None


def cpu_backends(data: list[dict]) -> str:
    """Every path of every model; mAP@.5's change is against our fp32 file (exact against eager), and a
    path is *accurate* within 0.01 of it. Per model and proposal count, a line holds our fastest
    accurate path against the fastest peer path at that count, whatever its precision (the strictest
    reading of the issue's target; "vs best peer" in the table follows the bench's rule: a bf16 peer
    only against our bf16 rows)."""
    rows, lines = [], []
    for model in dict.fromkeys(r["model"] for r in data):
        mine = [r for r in data if r["model"] == model]
        fp32 = next(r for r in mine if r["path"] == "ours, onnxruntime fp32").get("map50")
        for r in mine:
            peer = r["path"].startswith(("torchvision", "eager"))
            change = "" if fp32 is None or "map50" not in r or r["path"] == "ours, onnxruntime fp32" else \
                f" ({r['map50'] - fp32:+.3f})".replace("-", "−")
            rows.append([model, r["path"], f"{r['p50_ms']:.1f}", "" if peer else f"{r['speedup_vs_best_peer']:.2f}×",
                         f"{r['map50']:.3f}{change}" if "map50" in r else "—",
                         f"{100 * r['agreement_confident']:.1f} % of {r['eager_confident']}"])
        if fp32 is None:
            continue
        for budget in dict.fromkeys(_proposals(r["path"]) for r in mine):
            same = [r for r in mine if _proposals(r["path"]) == budget]
            peers = [r for r in same if r["path"].startswith("torchvision")]
            accurate = [r for r in same if r["path"].startswith("ours") and r.get("map50", -1) >= fp32 - 0.01]
            if peers and accurate:
                ours, peer = min(accurate, key=lambda r: r["p50_ms"]), min(peers, key=lambda r: r["p50_ms"])
                where = f"{budget} proposals" if budget else "the model's own proposal count"
                lines.append(f"* {model}, {where}: our fastest path within 0.01 mAP@.5 of fp32, *{ours['path']}* "
                             f"({ours['p50_ms']:.1f} ms), is {peer['p50_ms'] / ours['p50_ms']:.2f}× the fastest "
                             f"peer path, *{peer['path']}* ({peer['p50_ms']:.1f} ms).")
    return table(["model", "path", "p50 ms", "vs best peer", "mAP@.5 (vs fp32)", "agreement, score ≥ 0.5"],
                 rows) + ("\n\n" + "\n".join(lines) if lines else "")


def export_latency(data: dict) -> str:
    """Our file against torchvision's own export (and eager), timed side by side and each alone."""
    side, alone = (data["latency"][k] for k in ("side by side (interleaved, no spinning)",
                                                "each alone (default session settings)"))
    rows = []
    for title, runs in (("side by side", side), ("alone", alone)):
        p50 = {r["name"]: r["p50_ms"] for r in runs}
        ours, theirs = p50["ours (onnxruntime)"], p50["torchvision export (onnxruntime)"]
        eager = p50.get("eager torchvision")
        rows.append([f"`{data['arch']}` @ {data['imgsz']}, {title}", f"{_ms(ours)} ms", f"{_ms(theirs)} ms",
                     f"**{theirs / ours:.2f}×**", f"{_ms(eager)} ms" if eager else "",
                     f"{data['nodes']['ours']} / {data['nodes']['torchvision']}" if title == "side by side" else "",
                     ("yes" if data["same"] else "**no**") if title == "side by side" else ""])
    return (table(["model @ canvas", "ours p50", "torchvision export p50", "theirs / ours", "eager p50 (alone)",
                   "nodes ours / theirs", "same detections"], rows)
            + f"\n\n{data['detections']} detections, {data['iters']} runs per timing, {data['threads']} threads.")


def parity_all(data: dict) -> str:
    """Every architecture's file against eager torchvision, batch 1 and batch 4."""
    rows = [[f"`{s['architecture']}` @ {s['canvas'][0]}", str(s["reference_detections"]), str(s["matched"]),
             f"{s['missing']} / {s['extra']}", f"{s['iou_min']:.5f}", f"{s['score_diff_max']:.1e}",
             f"yes ({s['batch_max_diff']:.1f})" if s["batch_consistent"] else "**no**"] for s in data.values()]
    backend = next(iter(data.values()))["backend"]
    return (f"{backend}:\n\n" + table(["architecture @ canvas", "eager detections", "matched", "missing / extra",
                                         "min IoU", "max \\|Δscore\\|", "batch 4 == batch 1"], rows))


def cold_start(data: list[dict]) -> str:
    """Fresh process to first detections; OpenVINO's cache cold (empty) or warm (a first start's entry)."""
    models = sorted({r["model"] for r in data})
    rows = [[r["backend"], r["precision"], r["cache"], f"{r['load_s']:.2f}", f"{r['first_s']:.2f}",
             f"**{r['to_result_s']:.2f}**", f"{r['launch_to_result_s']:.2f}", f"{r['process_s']:.2f}"] for r in data]
    return (f"{', '.join(models)}, medians of {data[0]['repeats']} fresh processes each:\n\n"
            + table(["backend", "precision", "model cache", "load s", "first frame s", "to first result s",
                     "from launch s", "whole `edgedet run` s"], rows))


RENDER: dict[str, Callable] = {"budget_sweep": budget_sweep, "demo": demo, "serve": serve,
                               "tracking_accuracy": tracking_accuracy, "tracking_speed": tracking_speed,
                               "detect_every": detect_every, "svd_demo": svd_curve, "svd_mobilenet320": svd_curve,
                               "cpu_backends": cpu_backends, "cpu_resnet50": cpu_backends,
                               "cpu_mobilenet_fpn": cpu_backends, "cold_start": cold_start,
                               "export_mobilenet320": export_latency, "export_resnet50": export_latency,
                               "parity_onnxruntime": parity_all, "parity_openvino": parity_all}


def rendered(name: str) -> str:
    record = json.loads((RESULTS / f"{name}.json").read_text())
    return (f"{RENDER[name](record['data'])}\n\n*`{record['command']}` — {record['date']}, {record['host']}*\n")


def render(page: str) -> str:
    return BLOCK.sub(lambda m: m.group(1) + rendered(m.group("name")) + m.group(4), page)


def stale(page: str) -> list[str]:
    """The generated tables in ``page`` that differ from their JSON (or whose JSON is missing)."""
    return [m.group("name") for m in BLOCK.finditer(page)
            if not (RESULTS / f"{m.group('name')}.json").exists() or m.group("body") != rendered(m.group("name"))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    add = sub.add_parser("add", help="keep a benchmark's JSON as results/NAME.json, with command, date, host")
    add.add_argument("name", choices=sorted(RENDER))
    add.add_argument("json", type=Path)
    add.add_argument("--command", required=True, help="the command that wrote it, as run")
    add.add_argument("--date", default=datetime.date.today().isoformat())
    sub.add_parser("render")
    sub.add_parser("check")
    args = ap.parse_args()
    if args.what == "add":
        RESULTS.mkdir(exist_ok=True)
        record = {"command": args.command, "date": args.date, "host": host(),
                  "data": json.loads(args.json.read_text())}
        (RESULTS / f"{args.name}.json").write_text(json.dumps(record, indent=1) + "\n")
    elif args.what == "render":
        PAGE.write_text(render(PAGE.read_text()))
    else:
        names = stale(PAGE.read_text())
        if names:
            sys.exit(f"docs/results.md differs from results/ for: {', '.join(names)} (python bench/report.py render)")


if __name__ == "__main__":
    main()
