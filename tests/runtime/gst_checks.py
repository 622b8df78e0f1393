"""The GStreamer checks, each run in a fresh interpreter by ``test_gstreamer_source.py``: GStreamer's
libraries, once loaded, must not share a process with the exporter's (torch.onnx aborted in protobuf in a
pytest worker that had loaded them), so no test worker loads them itself. Prints one JSON object.

    python -m tests.runtime.gst_checks pipeline-clock | rtsp-clock CODEC | rtsp-down
"""

from __future__ import annotations

import json
import sys
import time

from tests.conftest import free_port


def pipeline_clock() -> dict:
    from edgedet.runtime.gst_capture import GstCapture

    cap = GstCapture("videotestsrc is-live=true ! video/x-raw,width=201,height=50,framerate=30/1")
    try:
        grabs = [cap.grab() for _ in range(5)] if cap.opened else []
    finally:
        cap.release()
    return {"opened": cap.opened, "error": cap.error, "clock": cap.clock,
            "shapes": [list(g.image.shape) for g in grabs], "ages": [time.time() - g.camera_time for g in grabs]}


def rtsp_clock(codec: str) -> dict:
    from edgedet.runtime.gst_capture import GstCapture, rtsp_pipeline
    from tests.runtime.rtsp_server import RtspServer

    with RtspServer(free_port(), codec) as server:
        cap = GstCapture(rtsp_pipeline(server.url, "tcp"), url=server.url)
        shape, stamped, failures = None, [], []
        try:
            deadline = time.monotonic() + 15
            while cap.opened and time.monotonic() < deadline and len(stamped) < 20:
                grab = cap.grab()
                if not grab.ok:
                    failures.append(grab.failure)
                    continue
                shape = list(grab.image.shape)
                if grab.camera_time is not None:
                    stamped.append(time.time() - grab.camera_time)
        finally:
            cap.release()
    return {"opened": cap.opened, "error": cap.error, "clock": cap.clock, "shape": shape, "ages": stamped,
            "failures": failures}


def rtsp_down() -> dict:
    from edgedet.runtime.gst_capture import GstCapture, rtsp_pipeline

    url = f"rtsp://127.0.0.1:{free_port()}/cam"
    cap = GstCapture(rtsp_pipeline(url), url=url)
    return {"opened": cap.opened, "error": cap.error}


if __name__ == "__main__":
    name, args = sys.argv[1], sys.argv[2:]
    check = {"pipeline-clock": pipeline_clock, "rtsp-clock": rtsp_clock, "rtsp-down": rtsp_down}[name]
    print(json.dumps(check(*args)))
