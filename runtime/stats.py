"""Latency statistics: per-stage samples in milliseconds, summarised as p50/p90/p99/max."""

from __future__ import annotations

import threading

import numpy as np

STAGES = ("read", "preprocess", "inference", "postprocess", "sink")
OPTIONAL_STAGES = ("track",)  # reported when the run has them (a tracker)
BATCH_SIZE = "batch_size"  # a series of frames per inference call, not a stage's milliseconds


def summarize(samples: list[float] | np.ndarray) -> dict[str, float]:
    values = np.asarray(samples, dtype=np.float64)
    if values.size == 0:
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0, "mean": 0.0, "count": 0}
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return {"p50": round(float(p50), 3), "p90": round(float(p90), 3), "p99": round(float(p99), 3),
            "max": round(float(values.max()), 3), "mean": round(float(values.mean()), 3), "count": int(values.size)}


class Reservoir:
    """At most ``cap`` samples of one series, kept in one float32 array touched when the series starts, so
    its memory does not grow while a run goes on (a list of Python floats costs 32 bytes a sample: a camera
    service's series grew by megabytes an hour). Past ``cap``, a uniform sample of everything seen
    (reservoir sampling); ``seen`` counts them all, ``last`` is the newest."""

    def __init__(self, cap: int, rng: np.random.Generator) -> None:
        self.kept = np.zeros(cap, np.float32)
        self.kept.fill(0.0)  # the pages are resident from the start, not taken one by one later
        self.seen, self.last, self._rng = 0, 0.0, rng

    def add(self, value: float) -> None:
        cap = self.kept.size
        if self.seen < cap:
            self.kept[self.seen] = value
        else:
            j = int(self._rng.integers(0, self.seen + 1))
            if j < cap:
                self.kept[j] = value
        self.seen += 1
        self.last = value

    def values(self) -> np.ndarray:
        return self.kept[: min(self.seen, self.kept.size)]


class LatencyRecorder:
    """Collects samples per named series, each a ``Reservoir`` (bounded memory however long the run).
    ``add`` may be called from several threads (the engine's inference threads and its output thread
    record into one recorder)."""

    def __init__(self, cap: int = 20_000, seed: int = 0) -> None:
        self.cap = cap
        self._series: dict[str, Reservoir] = {}
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()

    def add(self, name: str, ms: float) -> None:
        with self._lock:
            series = self._series.get(name)
            if series is None:
                series = self._series[name] = Reservoir(self.cap, self._rng)
            series.add(ms)

    def count(self, name: str) -> int:
        series = self._series.get(name)
        return series.seen if series else 0

    def last(self, name: str) -> float:
        series = self._series.get(name)
        return series.last if series else 0.0

    def summary(self, name: str) -> dict[str, float]:
        series = self._series.get(name)
        if series is None:
            return summarize([])
        return {**summarize(series.values()), "count": series.seen}

    def samples(self) -> dict[str, list[float]]:
        """Every series' kept samples, e.g. to send from a worker process to the one that reports."""
        return {name: series.values().tolist() for name, series in self._series.items()}

    def extend(self, samples: dict[str, list[float]]) -> None:
        """Add another recorder's ``samples()`` (percentiles of the union, not an average of summaries)."""
        for name, series in samples.items():
            for ms in series:
                self.add(name, ms)
