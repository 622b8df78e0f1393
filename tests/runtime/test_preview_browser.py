"""The MJPEG preview, looked at by a real headless browser (Chromium), where one is installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading

import cv2
import numpy as np
import pytest

from edgedet.runtime.preview_server import MjpegServer
from tests.runtime.conftest import frames_from
from tests.runtime.test_streaming import publish_at

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(BROWSER is None and not os.environ.get("CI"),
                    reason="no Chromium on this machine (apt-get install chromium)")
def test_browser_renders_the_stream(onnx_model, tmp_path):
    assert BROWSER is not None, "CI must install Chromium (.ci/run does: apt-get install chromium)"
    frames = [np.full((120, 160, 3), (250, 30, 30), np.uint8)] + frames_from(onnx_model, 2)
    server = MjpegServer("127.0.0.1", 0)
    stop = threading.Event()
    publish_at(server, frames[:1], 30, stop)
    shot = tmp_path / "preview.png"
    try:
        subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={tmp_path / 'profile'}", "--window-size=320,240", "--timeout=4000",
                        f"--screenshot={shot}", server.url], capture_output=True, timeout=60)
    finally:
        stop.set()
        server.close()
    image = cv2.imread(str(shot))
    assert image is not None
    red = (image[..., 2] > 200) & (image[..., 1] < 80) & (image[..., 0] < 80)  # the streamed frame, BGR
    assert red.sum() > 0.5 * 120 * 160
