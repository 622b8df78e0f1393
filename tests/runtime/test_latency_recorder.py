"""The latency recorder keeps a bounded, uniform sample of each series: its memory is fixed when a series
starts (a camera service runs for months), its percentiles stay close to those of every sample (numpy's
over the whole series is the oracle), and its count and newest value are the whole series'."""

from __future__ import annotations

import numpy as np

from edgedet.runtime.stats import LatencyRecorder


def test_bounded_and_close_to_every_sample():
    rec = LatencyRecorder(cap=2_000)
    values = np.random.default_rng(1).gamma(2.0, 10.0, 30_000)
    rec.add("e2e", 1.0)
    kept = rec._series["e2e"].kept  # noqa: SLF001  (the one array: it never grows or moves)
    for v in values:
        rec.add("e2e", float(v))
    assert rec._series["e2e"].kept is kept and kept.size == 2_000  # noqa: SLF001
    got = rec.summary("e2e")
    assert got["count"] == 30_001 and rec.count("e2e") == 30_001
    assert rec.last("e2e") == np.float32(values[-1])
    for q, key in ((50, "p50"), (90, "p90")):
        assert abs(got[key] - np.percentile(values, q)) < 0.05 * np.percentile(values, q), (key, got)


def test_under_the_cap_every_sample_is_kept():
    rec = LatencyRecorder(cap=100)
    for v in range(10):
        rec.add("read", float(v))
    assert rec.samples() == {"read": [float(v) for v in range(10)]}
    assert rec.summary("read")["p50"] == np.percentile(np.arange(10), 50)
    assert rec.summary("missing")["count"] == 0 and rec.last("missing") == 0.0
