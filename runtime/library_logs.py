"""OpenCV's and FFmpeg's own log lines, off unless asked for.

A camera that drops makes FFmpeg print ``[tcp @ 0x...] Connection to tcp://... failed`` and OpenCV print
``[ WARN:0@19.7] global cap.cpp:212 open VIDEOIO(FFMPEG)...`` onto the run's terminal, around the one
line the source itself writes about the outage. Both libraries have a switch: OpenCV's log level, and
``OPENCV_FFMPEG_LOGLEVEL`` (FFmpeg's ``av_log`` level as OpenCV sets it, read when OpenCV first opens a
stream, so it is set before any capture). ``verbose()`` brings them back for debugging a camera.
"""

from __future__ import annotations

import os
import threading

import cv2

AV_LOG_QUIET, AV_LOG_INFO = -8, 32
_lock = threading.Lock()
_chosen = False


def _apply(loud: bool) -> None:
    global _chosen
    with _lock:
        os.environ["OPENCV_FFMPEG_LOGLEVEL"] = str(AV_LOG_INFO if loud else AV_LOG_QUIET)
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_INFO if loud
                                      else cv2.utils.logging.LOG_LEVEL_SILENT)
        _chosen = True


def verbose(loud: bool = True) -> None:
    """Let OpenCV and FFmpeg log (``loud``) or silence them, whatever was chosen before."""
    _apply(loud)


def quiet_by_default() -> None:
    """Silence both libraries unless someone chose already (a capture calls this before it opens)."""
    if not _chosen:
        _apply(False)
