"""How live sources reconnect and carry RTSP (``LiveOptions``), and a saved video whose source changes size."""

from __future__ import annotations

import numpy as np
import pytest

from edgedet.runtime.captures import RTSP_TRANSPORTS
from edgedet.runtime.detections import Detections
from edgedet.runtime.errors import EdgedetError
from edgedet.runtime.frames import Frame
from edgedet.runtime.sinks import VideoSink
from edgedet.runtime.sources import LiveOptions
from tests.runtime.conftest import count_video_frames


def test_the_cli_names_every_transport():
    from edgedet.cli.options import Transport

    assert tuple(t.value for t in Transport) == RTSP_TRANSPORTS


@pytest.mark.parametrize("kwargs", [{"rtsp_transport": "quic"}, {"stall_s": 0}, {"give_up_after_s": -1}])
def test_bad_options_are_refused(kwargs):
    with pytest.raises(EdgedetError):
        LiveOptions(**kwargs)


def test_a_saved_video_keeps_frames_of_a_new_size(tmp_path):
    """OpenCV's writer drops frames whose size is not the first one's; ours fits them in (letterboxed)."""
    path = tmp_path / "out.avi"
    sink = VideoSink(path, 10)
    for i, (h, w) in enumerate([(60, 80)] * 3 + [(120, 200)] * 4):
        sink.write(Frame(i, np.full((h, w, 3), 40 * i % 255, np.uint8), 0.0), Detections.empty(), None)
    sink.close()
    assert count_video_frames(path) == 7
