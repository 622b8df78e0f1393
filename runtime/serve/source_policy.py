"""Which sources and save paths an API client may name: the operator's choice, so ``POST /v1/streams`` is not
a way to read the box's files or to write outside the output folder.

By default a client may open cameras (an index) and ``rtsp``/``rtsps``/``http``/``https`` URLs; the operator
replaces that list with ``--allow-source`` patterns (shell-style, e.g. ``rtsp://10.0.0.*``). Local video
files are allowed only under ``--media-root`` (the resolved path, so neither ``..`` nor a symlink leaves it),
GStreamer pipelines only when a pattern names them (a pipeline can read any file). A save path is a
relative path under ``--out``.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from edgedet.runtime.serve.refusal import Refused

DEFAULT_ALLOWED = ("[0-9]", "[0-9][0-9]", "rtsp://*", "rtsps://*", "http://*", "https://*")
SAVE_SUFFIXES = (".mp4", ".m4v", ".avi", ".mkv")


@dataclass(frozen=True)
class SourcePolicy:
    allowed: tuple[str, ...] = DEFAULT_ALLOWED
    media_root: Path | None = None  # local files under this folder; None: no local files
    out: Path | None = None  # save paths under this folder; None: no saving

    def source(self, spec: str) -> str:
        """The source to open (a file: its resolved path), or a 403 saying why not."""
        text = spec.strip()
        if not text:
            raise Refused(400, "'source' is empty: give a camera index, an rtsp:// or http(s):// URL")
        if any(fnmatch.fnmatchcase(text, pattern) for pattern in self.allowed):
            return text
        if "://" not in text and "!" not in text and self.media_root is not None:
            root = self.media_root.resolve()
            path = (root / text).resolve()
            if path.is_relative_to(root):
                if not path.is_file():
                    raise Refused(404, f"no file '{text}' under the media root")
                return str(path)
            raise Refused(403, f"'{text}' is outside the media root this server reads files from")
        where = "; local files under --media-root" if self.media_root is None else ""
        raise Refused(403, f"this server does not open '{text}': it allows {', '.join(self.allowed)}{where}")

    def save_path(self, text: str) -> Path:
        """Where a stream's video goes: a relative path under ``out``, with a video suffix."""
        if self.out is None:
            raise Refused(403, "this server saves no video: it was started without --out")
        relative = PurePosixPath(text)
        if relative.is_absolute() or ".." in relative.parts or not relative.parts or "\\" in text:
            raise Refused(400, f"save path '{text}' must be relative, without '..'")
        if relative.suffix.lower() not in SAVE_SUFFIXES:
            raise Refused(400, f"save path '{text}' must end in {', '.join(SAVE_SUFFIXES)}")
        root = self.out.resolve()
        path = (root / relative).resolve()
        if not path.is_relative_to(root):  # a symlink inside out pointing away
            raise Refused(400, f"save path '{text}' leaves the output folder")
        return path
