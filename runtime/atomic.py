"""Every file edgedet writes appears whole or not at all: written beside its destination under a
temporary name, renamed over it when complete, removed when anything fails.

One helper for every writer: plain bytes and text, JSON, and writers that need a path rather than
a handle (``torch.save``, ``cv2.VideoWriter``, ``cv2.imwrite``, matplotlib). The temporary name
keeps the destination's suffix, because OpenCV and matplotlib pick the format from it.

The file gets the mode a plain ``open(path, "w")`` would give it: the mode of the file it replaces, else
0666 less the umask (0644 under the usual 022). ``mkstemp`` makes its file 0600 whatever the umask, and
the rename keeps that: a saved video or a report another user or a web server on the box could not read.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _umask_by_setting() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


UMASK_AT_IMPORT = _umask_by_setting()  # single-threaded then: no writer thread sees the swap


def current_umask() -> int:
    """The process's umask: Linux shows it in /proc/self/status; elsewhere it can only be read by setting
    it, which is done once, at import."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    return UMASK_AT_IMPORT


def plain_mode(path: Path) -> int:
    """The permissions ``open(path, "w")`` leaves ``path`` with: an existing file's own, else 0666 less
    the umask."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return 0o666 & ~current_umask()


class PendingFile:
    """A destination being written: ``tmp`` is where to write; ``commit`` renames it into place,
    ``discard`` removes it. For writers that stay open across a run (a video, a JSON Lines log)."""

    def __init__(self, destination: str | Path) -> None:
        self.path = Path(destination)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.stem}.",
                                   suffix=f".partial{self.path.suffix}")
        os.close(fd)
        self.tmp = Path(tmp)
        os.chmod(self.tmp, plain_mode(self.path))
        self.done = False

    def commit(self) -> Path:
        if not self.done:
            os.replace(self.tmp, self.path)
            self.done = True
        return self.path

    def discard(self) -> None:
        if not self.done:
            self.tmp.unlink(missing_ok=True)
            self.done = True


@contextmanager
def atomic_path(destination: str | Path) -> Iterator[Path]:
    """``with atomic_path(dest) as tmp: write(tmp)``: ``dest`` appears only if the block succeeds."""
    pending = PendingFile(destination)
    try:
        yield pending.tmp
    except BaseException:
        pending.discard()
        raise
    pending.commit()


def write_bytes(destination: str | Path, data: bytes) -> Path:
    with atomic_path(destination) as tmp:
        tmp.write_bytes(data)
    return Path(destination)


def write_text(destination: str | Path, text: str) -> Path:
    with atomic_path(destination) as tmp:
        tmp.write_text(text)
    return Path(destination)


def write_json(destination: str | Path, payload: Any, indent: int | None = 2) -> Path:
    return write_text(destination, json.dumps(payload, indent=indent, default=str))
