"""The service's Prometheus metrics, in a registry of its own (two apps in one process, as in the tests,
never share counters): requests by endpoint and status, request and inference latency, batch sizes, the
batcher's queue depth, and per stream its frames in, processed and dropped, outages and undecodable frames
(read from the running streams at scrape time, so a stream that leaves leaves the metrics)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class StreamCounts(Protocol):
    """What the metrics read of a running stream (``engine.Stream``)."""

    name: str
    processed: int
    source: object  # frames_in, frames_dropped, outages, decode_errors


STREAM_COUNTERS = (("frames_in", "Frames that arrived from the stream's source"),
                   ("frames_dropped", "Live frames replaced by a newer one before they were processed"),
                   ("outages", "Times the stream was lost and reconnected"),
                   ("decode_errors", "Frames that arrived but did not decode"))


class StreamCollector:
    """Per-stream counters, read from the running streams at each scrape."""

    def __init__(self, streams: Callable[[], Sequence[StreamCounts]]) -> None:
        self.streams = streams

    def collect(self) -> Iterator[Metric]:
        running = self.streams()
        processed = CounterMetricFamily("edgedet_stream_frames_processed", "Frames detected on", labels=["stream"])
        for stream in running:
            processed.add_metric([stream.name], stream.processed)
        yield processed
        for attr, text in STREAM_COUNTERS:
            family = CounterMetricFamily(f"edgedet_stream_{attr}", text, labels=["stream"])
            for stream in running:
                family.add_metric([stream.name], getattr(stream.source, attr))
            yield family


class ServeMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, queue_depth: Callable[[], int],
                 streams: Callable[[], Sequence[StreamCounts]] = tuple) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(StreamCollector(streams))
        self.requests = Counter("edgedet_requests", "HTTP requests answered, by endpoint and status",
                                ["endpoint", "status"], registry=self.registry)
        self.request_seconds = Histogram("edgedet_request_seconds", "Time to answer a request, by endpoint",
                                         ["endpoint"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.inference_seconds = Histogram("edgedet_inference_seconds", "Time of one batched inference call",
                                           buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batch_images = Histogram("edgedet_batch_images", "Images per inference call",
                                      buckets=(1, 2, 4, 8, 16, 32, 64), registry=self.registry)
        self.images = Counter("edgedet_images", "Images detected on", registry=self.registry)
        depth = Gauge("edgedet_queue_depth", "Requests waiting for a batch", registry=self.registry)
        depth.set_function(queue_depth)

    def inference(self, images: int, seconds: float) -> None:
        self.inference_seconds.observe(seconds)
        self.batch_images.observe(images)
        self.images.inc(images)

    def answered(self, endpoint: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, str(status)).inc()
        self.request_seconds.labels(endpoint).observe(seconds)

    def text(self) -> bytes:
        return generate_latest(self.registry)
