"""Latency statistics: per-stage samples in milliseconds, summarised as p50/p90/p99/max."""

from __future__ import annotations

import threading
from collections import defaultdict

import numpy as np

STAGES = ("read", "preprocess", "inference", "postprocess", "sink")
OPTIONAL_STAGES = ("track",)  # reported when the run has them (a tracker)


def summarize(samples: list[float] | np.ndarray) -> dict[str, float]:
    values = np.asarray(samples, dtype=np.float64)
    if values.size == 0:
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0, "mean": 0.0, "count": 0}
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return {"p50": round(float(p50), 3), "p90": round(float(p90), 3), "p99": round(float(p99), 3),
            "max": round(float(values.max()), 3), "mean": round(float(values.mean()), 3), "count": int(values.size)}


class LatencyRecorder:
    """Collects samples per named series; memory is bounded by keeping at most ``cap`` per series
    (a reservoir past that), so a days-long run does not grow. ``add`` may be called from several threads
    (the engine's inference threads and its output thread record into one recorder)."""

    def __init__(self, cap: int = 100_000, seed: int = 0) -> None:
        self.cap = cap
        self._series: dict[str, list[float]] = defaultdict(list)
        self._seen: dict[str, int] = defaultdict(int)
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()

    def add(self, name: str, ms: float) -> None:
        with self._lock:
            self._seen[name] += 1
            series = self._series[name]
            if len(series) < self.cap:
                series.append(ms)
            else:
                j = int(self._rng.integers(0, self._seen[name]))
                if j < self.cap:
                    series[j] = ms

    def count(self, name: str) -> int:
        return self._seen.get(name, 0)

    def last(self, name: str) -> float:
        series = self._series.get(name)
        return series[-1] if series else 0.0

    def summary(self, name: str) -> dict[str, float]:
        return summarize(self._series.get(name, []))

    def samples(self) -> dict[str, list[float]]:
        """Every series' kept samples, e.g. to send from a worker process to the one that reports."""
        return {name: list(series) for name, series in self._series.items()}

    def extend(self, samples: dict[str, list[float]]) -> None:
        """Add another recorder's ``samples()`` (percentiles of the union, not an average of summaries)."""
        for name, series in samples.items():
            for ms in series:
                self.add(name, ms)
