"""docs/results.md's generated tables equal what their benchmark JSON in results/ says (bench/report.py):
a figure edited by hand, or a measurement re-run without re-rendering, fails here."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("report", ROOT / "bench" / "report.py")
report = importlib.util.module_from_spec(spec)
spec.loader.exec_module(report)


def test_every_generated_table_equals_its_json():
    page = report.PAGE.read_text()
    names = [m.group("name") for m in report.BLOCK.finditer(page)]
    assert set(names) == set(report.RENDER) and len(names) == len(set(names))
    assert report.stale(page) == []
    for name in names:
        record = json.loads((report.RESULTS / f"{name}.json").read_text())
        assert record["command"].startswith(("python bench/", "edgedet ")) and record["date"] and record["host"]


def test_a_figure_edited_by_hand_is_caught():
    page = report.PAGE.read_text()
    block = next(report.BLOCK.finditer(page))
    body = block.group("body")
    digit = next(i for i, c in enumerate(body) if c.isdigit() and i > body.index("\n| ---"))
    edited = body[:digit] + str((int(body[digit]) + 1) % 10) + body[digit + 1:]
    assert report.stale(page.replace(body, edited)) == [block.group("name")]
