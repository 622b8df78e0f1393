"""``POST /v1/streams``' JSON body: its fields, types and limits (pydantic), unknown fields refused, and the
first thing wrong said in one line."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edgedet.runtime.serve.refusal import Refused
from edgedet.runtime.serve.streams import StreamRequest


class StreamBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(max_length=2000, description="Camera index, rtsp:// or http(s):// URL, or a file under "
                        "the server's media root", examples=["rtsp://10.0.0.7/live"])
    name: str | None = Field(None, max_length=64, description="The stream's name (default: stream1, stream2, ...)")
    conf: float | None = Field(None, ge=0.0, le=1.0, description="Minimum score (default 0.25)")
    track: Literal["sort", "bytetrack", "ocsort"] | None = Field(None, description="Follow objects over time")
    lines: list[str] = Field(default_factory=list, max_length=16, description="Counting lines, NAME=X1,Y1,X2,Y2")
    zones: list[str] = Field(default_factory=list, max_length=16, description="Zones, NAME=X1,Y1,X2,Y2,X3,Y3,...")
    save: str | None = Field(None, max_length=500, description="A video under the server's --out, e.g. cam1.mp4")


def stream_request(raw: bytes) -> StreamRequest:
    try:
        body = StreamBody.model_validate_json(raw or b"null")
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "body"
        raise Refused(400, f"{where}: {first.get('msg', 'invalid')} (send a JSON object such as "
                           '{"source": "rtsp://camera/live"})') from None
    return StreamRequest(body.source, body.name, body.conf, body.track, tuple(body.lines), tuple(body.zones),
                         body.save)
