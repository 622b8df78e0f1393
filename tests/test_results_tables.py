"""docs/results.md's generated tables equal what their benchmark JSON in results/ says (bench/report.py):
a figure edited by hand, or a measurement re-run without re-rendering, fails here."""

from __future__ import annotations

import importlib.util
import json
import re
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


def test_the_readme_headlines_quote_the_generated_tables():
    """Each headline figure in the README's Results section (a number with a decimal point, or N of M)
    appears in a generated table of docs/results.md, so a re-measured table cannot leave the README
    quoting an old figure."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Results", 1)[1].split("\n## ", 1)[0]
    generated = "\n".join(m.group("body") for m in report.BLOCK.finditer(report.PAGE.read_text())).replace("×", "x")
    figures = [f for bullet in section.split("\n- ")[1:] for f in
               re.findall(r"\d+\.\d+(?:-\d+\.\d+)?x?|\d+ of \d+", re.sub(r"\([^)]*\)", "", bullet))]
    assert len(figures) >= 8
    assert [f for f in figures if f not in generated] == []
