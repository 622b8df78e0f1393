"""Every file edgedet writes appears whole or not at all: written beside its destination under a
temporary name, renamed over it when complete, removed when anything fails.

One helper for every writer: plain bytes and text, JSON, and writers that need a path rather than
a handle (``torch.save``, ``cv2.VideoWriter``, ``cv2.imwrite``, matplotlib). The temporary name
keeps the destination's suffix, because OpenCV and matplotlib pick the format from it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


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
