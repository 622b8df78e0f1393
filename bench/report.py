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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS, PAGE = ROOT / "results", ROOT / "docs" / "results.md"
sys.path.insert(0, str(Path(__file__).parent))
from report_tables import RENDER  # noqa: E402

BLOCK = re.compile(r"(<!-- generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- end: (?P=name) -->)", re.S)


def host() -> str:
    """The processor, its widest vector extension and the cores: this project's shared machines have been
    EPYCs with AVX-512 and bf16 (Zen 4) and without (Zen 3, twice as slow to train), both "AMD EPYC"."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
                 platform.processor())
    flags = set(next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), []))
    isa = next((name for flag, name in (("avx512_bf16", "AVX-512 with bf16"), ("avx512f", "AVX-512"),
                                        ("avx2", "AVX2, no AVX-512")) if flag in flags), "")
    return f"{model}{f' ({isa})' if isa else ''}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}"


def rendered(name: str) -> str:
    record = json.loads((RESULTS / f"{name}.json").read_text())
    return (f"{RENDER[name](record['data'])}\n\n*`{record['command']}` — {record['date']}, {record['host']}*\n")


def render(page: str) -> str:
    """``page`` with every generated table whose JSON exists rewritten (the others are left as they are:
    ``check`` names them)."""
    def one(m: re.Match) -> str:
        if not (RESULTS / f"{m.group('name')}.json").exists():
            return m.group(0)
        return m.group(1) + rendered(m.group("name")) + m.group(4)

    return BLOCK.sub(one, page)


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
