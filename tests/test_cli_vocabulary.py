"""One CLI vocabulary (docs/cli.md), checked on every command's options as the parser holds them: one
spelling per concept, help on every option, booleans as --x/--no-x with no value shown, and every example
in every --help parses. Old spellings still work for a release, with a note."""

from __future__ import annotations

import importlib.metadata
import re
import shlex

import pytest
import typer

from edgedet.cli.app import app
from edgedet.cli.renamed_options import RENAMED, rewrite
from tests.conftest import cli

ROOT_COMMAND = typer.main.get_command(app)
# a concept's other spellings, refused everywhere (docs/cli.md gives the one kept)
FORBIDDEN = {"--output": "--out", "--size": "--imgsz", "--img-size": "--imgsz", "--image-size": "--imgsz",
             "--canvas": "--imgsz", "--score-thresh": "--conf", "--score-threshold": "--conf",
             "--threshold": "--conf", "--json-out": "--report", "--num-images": "--count"}


def commands(group=ROOT_COMMAND, path=()):
    for name, sub in sorted(group.commands.items()):
        if hasattr(sub, "commands"):
            yield from commands(sub, (*path, name))
        else:
            yield (*path, name), sub


COMMANDS = dict(commands())


def options(command):
    return [p for p in command.params if p.param_type_name == "option"]


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=" ".join)
def test_every_option_follows_the_vocabulary(path):
    for p in options(COMMANDS[path]):
        names = p.opts + p.secondary_opts
        where = f"edgedet {' '.join(path)} {'/'.join(names)}"
        assert p.help and p.help.strip(), f"{where}: no help"
        for name in names:
            assert name not in FORBIDDEN, f"{where}: spelled {name}, the vocabulary's is {FORBIDDEN[name]}"
        if p.is_flag:
            assert p.secondary_opts and p.metavar == "", f"{where}: a boolean is --x/--no-x, with no value shown"
        if "--json" in names:
            assert p.is_flag, f"{where}: --json prints to stdout; a file is --report FILE"
        if "--images" in names:
            assert not isinstance(p.default, int), f"{where}: --images names images; a number of them is --count"
        if "--batch" in names:
            assert not isinstance(p.default, str), f"{where}: --batch is images per call; a range is --batch-range"


def examples(command) -> list[str]:
    """The example lines of a command's help: its docstring's lines that run edgedet (``edgedet ...`` or
    ``torchrun ... -m edgedet.cli.app ...``), each as a shell would paste it."""
    doc = command.help or ""
    return [line.strip() for line in doc.splitlines()
            if line.strip().startswith("edgedet ") or "-m edgedet.cli.app " in line]


def edgedet_words(line: str) -> list[str]:
    """The words after 'edgedet' (a shell comment dropped, as the shell drops it)."""
    words = shlex.split(line, comments=True)
    start = words.index("edgedet.cli.app") + 1 if "edgedet.cli.app" in words else 1
    return words[start:]


def test_every_help_example_parses():
    """Each a line a user can paste: no note outside a comment, no broken line; it parses as the command it
    names (an example may show another command, the one that makes its input)."""
    seen = 0
    for command in COMMANDS.values():
        for line in examples(command):
            words = edgedet_words(line)
            path = next(p for p in sorted(COMMANDS, key=len, reverse=True) if tuple(words[:len(p)]) == p)
            args = rewrite(words)[len(path):]
            assert not any(re.fullmatch(r"\(.*|.*\)", w) for w in args), f"{line!r}: a note outside a comment"
            assert not line.endswith("\\"), f"{line!r}: a line that goes on"
            # the parser's own checks (names, types, choices, ranges, callbacks); the command does not run
            COMMANDS[path].make_context(" ".join(["edgedet", *path]), args)
            seen += 1
    assert seen >= 30


def test_old_spellings_work_for_a_release_with_a_note(tmp_path):
    notes: list[str] = []
    assert rewrite(["quantize", "m.onnx", "--output=q.onnx"], notes.append) == ["quantize", "m.onnx", "--out=q.onnx"]
    assert rewrite(["profile", "m.onnx", "--json", "p.json"], notes.append) == ["profile", "m.onnx", "--report",
                                                                               "p.json"]
    assert rewrite(["profile", "m.onnx", "--json"], notes.append) == ["profile", "m.onnx", "--json"]
    assert rewrite(["run", "m.onnx", "--output", "x"], notes.append) == ["run", "m.onnx", "--output", "x"]
    assert len(notes) == 2 and "'quantize --output' is now '--out'" in notes[0]
    longest = max((" ".join(p), old, new) for p, names in RENAMED.items() for old, new in names.items())
    rewrite([*longest[0].split(), "x", longest[1], "1"], notes.append)
    assert all(len(n) <= 80 for n in notes), notes  # a note fits an 80-column terminal
    for path, renamed in RENAMED.items():  # each new spelling exists where the old one was
        names = {n for p in options(COMMANDS[path]) for n in p.opts + p.secondary_opts}
        assert set(renamed.values()) <= names and not set(renamed) & names, path
    r = cli("data", "synth", tmp_path / "d", "--images", "4", "--size", "64")
    assert r.returncode == 0, r.stderr
    assert "'data synth --images' is now '--count'" in r.stderr and "'data synth --size' is now '--imgsz'" in r.stderr
    assert len(list((tmp_path / "d").glob("*/images/*"))) == 4


def test_version():
    r = cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"edgedet {importlib.metadata.version('edgedet')}"
