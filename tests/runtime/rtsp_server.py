"""A real RTSP server for the tests: GStreamer's ``gst-rtsp-server`` (Debian's ``gir1.2-gst-rtsp-server-1.0``)
serving a moving test pattern as H.264 or H.265 over RTP on loopback, in its own process so a test can
restart it, stop it for good, or freeze it (SIGSTOP: the connection stays open, no packet flows).

    python -m tests.runtime.rtsp_server PORT h264|h265 [WIDTHxHEIGHT]
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENCODERS = {
    "h264": "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25 ! rtph264pay name=pay0 pt=96 "
            "config-interval=1",
    "h265": "x265enc tune=zerolatency speed-preset=ultrafast key-int-max=25 ! rtph265pay name=pay0 pt=96 "
            "config-interval=1",
}


class RtspServer:
    """``rtsp://127.0.0.1:PORT/cam`` in a child process; ``restart()`` brings it back on the same port."""

    def __init__(self, port: int, codec: str = "h264", size: str = "320x240") -> None:
        self.port, self.codec, self.size = port, codec, size
        self.url = f"rtsp://127.0.0.1:{port}/cam"
        self.proc: subprocess.Popen | None = None

    def start(self) -> RtspServer:
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.runtime.rtsp_server", str(self.port), self.codec,
                                      self.size], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready", "the RTSP server did not start"
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def restart(self, pause_s: float = 0.0) -> None:
        self.stop()
        time.sleep(pause_s)
        self.start()

    def __enter__(self) -> RtspServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(port: int, codec: str, size: str) -> None:
    from edgedet.runtime import gstreamer

    gstreamer.gst()
    import gi

    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, GstRtspServer

    width, height = size.split("x")
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(f"( videotestsrc is-live=true pattern=ball ! video/x-raw,width={width},height={height},"
                       f"framerate=25/1 ! videoconvert ! {ENCODERS[codec]} )")
    factory.set_shared(True)
    server.get_mount_points().add_factory("/cam", factory)
    if server.attach(None) == 0:
        raise SystemExit(f"cannot listen on port {port}")
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "320x240")
