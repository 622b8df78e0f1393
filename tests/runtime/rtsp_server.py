"""A real RTSP server for the tests: GStreamer's ``gst-rtsp-server`` (Debian's ``gir1.2-gst-rtsp-server-1.0``)
serving a moving test pattern as H.264 or H.265 over RTP on loopback, in its own process so a test can
restart it, stop it for good, freeze it (SIGSTOP: the connection stays open, no packet flows) or change
the picture's size mid-stream (``resize``: a line on its standard input).

    python -m tests.runtime.rtsp_server PORT h264|h265 [WIDTHxHEIGHT]
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENCODERS = {
    "h264": "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25 ! rtph264pay name=pay0 pt=96 "
            "config-interval=1",
    "h265": "x265enc tune=zerolatency speed-preset=ultrafast key-int-max=25 ! rtph265pay name=pay0 pt=96 "
            "config-interval=1",
}


def _free_port() -> int:
    with socket.socket() as s:  # not conftest's: the soak bench imports this module without pytest's imports
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RtspServer:
    """``rtsp://127.0.0.1:PORT/cam`` in a child process; ``restart()`` brings it back on the same port."""

    def __init__(self, port: int | None = None, codec: str = "h264", size: str = "320x240") -> None:
        self.port, self.codec, self.size = port or _free_port(), codec, size
        self.url = f"rtsp://127.0.0.1:{self.port}/cam"
        self.proc: subprocess.Popen | None = None

    def start(self) -> RtspServer:
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.runtime.rtsp_server", str(self.port), self.codec,
                                      self.size], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready", "the RTSP server did not start"
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def resize(self, size: str) -> None:
        """Every client's stream goes on at ``size`` (WIDTHxHEIGHT): the encoder renegotiates, new SPS."""
        self.proc.stdin.write(f"size {size}\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == f"size {size}", "the RTSP server did not resize"

    def freeze(self) -> None:
        """SIGSTOP: the server's sockets stay open, nothing is sent (a hung camera)."""
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

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

    Gst = gstreamer.gst()
    import gi

    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, GstRtspServer

    width, height = size.split("x")
    filters = []  # each client's capsfilter (one shared media: one)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(f"( videotestsrc is-live=true pattern=ball ! capsfilter name=size "
                       f"caps=video/x-raw,width={width},height={height},framerate=25/1 ! videoconvert ! "
                       f"{ENCODERS[codec]} )")
    factory.set_shared(True)
    factory.connect("media-configure", lambda _f, media: filters.append(media.get_element().get_by_name("size")))

    def resize(text: str) -> bool:
        w, h = text.split("x")
        caps = Gst.Caps.from_string(f"video/x-raw,width={w},height={h},framerate=25/1")
        for capsfilter in filters:
            capsfilter.set_property("caps", caps)
        print(f"size {text}", flush=True)
        return False

    def commands() -> None:
        for line in sys.stdin:
            if line.startswith("size "):
                GLib.idle_add(resize, line.split()[1])

    threading.Thread(target=commands, daemon=True).start()
    server.get_mount_points().add_factory("/cam", factory)
    if server.attach(None) == 0:
        raise SystemExit(f"cannot listen on port {port}")
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "320x240")
