"""Option spellings renamed for one vocabulary (docs/cli.md), still accepted for one release: the old
spelling is rewritten to the new before parsing, with a one-line note on stderr, so a user's script keeps
working and says what to change. Drop an entry after the next release."""

from __future__ import annotations

import sys
from collections.abc import Callable

# command path -> {old option: new option}
RENAMED: dict[tuple[str, ...], dict[str, str]] = {
    ("quantize",): {"--output": "--out"},
    ("export",): {"--score-thresh": "--conf"},
    ("data", "synth"): {"--size": "--imgsz", "--images": "--count"},
    ("lineage",): {"--size": "--imgsz", "--images": "--count"},
    ("demo",): {"--images": "--count"},
    ("build",): {"--batch": "--batch-range"},
}
# ``profile --json FILE`` wrote a file; ``--json`` is now the stdout flag, as in every command, and the file
# is ``--report FILE``: a ``--json`` followed by a ``.json`` name is the old form
JSON_FILE_BEFORE = {("profile",): "--report"}


def command_of(args: list[str]) -> tuple[str, ...]:
    """The command path the arguments name: ``("data", "synth")``, ``("run",)``, or ``()``."""
    words = [a for a in args if not a.startswith("-")][:2]
    if words[:1] == ["data"]:
        return tuple(words)
    return tuple(words[:1])


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr)


def rewrite(args: list[str], note: Callable[[str], None] = _to_stderr) -> list[str]:
    """``args`` with every renamed option in its new spelling (``--old VALUE`` and ``--old=VALUE``)."""
    command = command_of(args)
    renamed = RENAMED.get(command, {})
    out: list[str] = []
    noted: set[str] = set()
    i = 0
    while i < len(args):
        arg = args[i]
        name, eq, value = arg.partition("=")
        new = renamed.get(name)
        if new is None and name == "--json" and command in JSON_FILE_BEFORE and not eq and i + 1 < len(args) \
                and args[i + 1].lower().endswith(".json"):
            new = JSON_FILE_BEFORE[command]
        if new is not None:
            if name not in noted:
                note(f"note: '{' '.join(command)} {name}' is now '{new}' (the old spelling goes next release)")
                noted.add(name)
            out.append(new + eq + value)
        else:
            out.append(arg)
        i += 1
    return out
