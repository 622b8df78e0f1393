"""One container for detections, shared by every backend, evaluator and sink."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Detections:
    """Detections of one frame, in that frame's pixel coordinates.

    ``labels`` are torchvision label ids (0 is background and never appears);
    ``class_names[label]`` names them when the model carries names.
    """

    boxes: np.ndarray  # float32 [N, 4] x1, y1, x2, y2
    scores: np.ndarray  # float32 [N]
    labels: np.ndarray  # int64 [N]
    class_names: Sequence[str] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        self.scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        if not (len(self.boxes) == len(self.scores) == len(self.labels)):
            raise ValueError(
                f"boxes, scores and labels differ in length: {len(self.boxes)}, "
                f"{len(self.scores)}, {len(self.labels)}"
            )

    @classmethod
    def empty(cls, class_names: Sequence[str] = ()) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64),
                   class_names)

    def __len__(self) -> int:
        return len(self.scores)

    def __getitem__(self, index: np.ndarray | slice) -> Detections:
        return Detections(self.boxes[index], self.scores[index], self.labels[index], self.class_names)

    def filter(self, conf: float = 0.0, classes: Iterable[int | str] | None = None) -> Detections:
        """Keep detections scoring at least ``conf`` whose label id or name is in ``classes``."""
        keep = self.scores >= conf
        if classes is not None:
            wanted = set(classes)
            keep &= np.array([int(lb) in wanted or self.name(int(lb)) in wanted for lb in self.labels],
                             dtype=bool).reshape(-1)
        return self[keep]

    def name(self, label: int) -> str:
        if 0 <= label < len(self.class_names):
            return self.class_names[label]
        return str(label)

    def to_records(self) -> list[dict]:
        """Plain-JSON rows, for JSON Lines sinks and ``--json`` output."""
        return [
            {
                "box": [round(float(v), 2) for v in box],
                "score": round(float(score), 5),
                "label": int(label),
                "name": self.name(int(label)),
            }
            for box, score, label in zip(self.boxes, self.scores, self.labels)
        ]
