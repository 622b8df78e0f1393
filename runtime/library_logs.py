"""OpenCV's and FFmpeg's own log lines, off unless asked for.

A camera that drops makes FFmpeg print ``[tcp @ 0x...] Connection to tcp://... failed`` and OpenCV print
``[ WARN:0@19.7] global cap.cpp:212 open VIDEOIO(FFMPEG)...`` onto the run's terminal, around the one
line the source itself writes about the outage. Both libraries have a switch: OpenCV's log level, and
``OPENCV_FFMPEG_LOGLEVEL`` (FFmpeg's ``av_log`` level as OpenCV sets it, read when OpenCV first opens a
stream, so it is set before any capture).
"""

from __future__ import annotations

import os
import threading

import cv2

AV_LOG_QUIET = -8
_lock = threading.Lock()
_done = False


def keep_library_logs() -> None:
    """Leave both libraries' logging as they have it (a run's ``--verbose``); called before any capture
    opens, it wins over ``quiet_by_default``."""
    global _done
    with _lock:
        _done = True


def quiet_by_default() -> None:
    """Silence both libraries, once per process (a capture calls this before it opens); an
    ``OPENCV_FFMPEG_LOGLEVEL`` the user set is kept."""
    global _done
    with _lock:
        if not _done:
            os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", str(AV_LOG_QUIET))
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
            _done = True
