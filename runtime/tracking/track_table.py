"""The tracks of one tracker as columns (one array per field, a row per track), so predicting, matching and
pruning act on all rows at once; a track's label is the majority label of its detections (a column of
vote counts per label)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgedet.runtime.tracking import kalman


@dataclass
class TrackTable:
    model: kalman.BoxModel
    mean: np.ndarray = field(init=False)
    cov: np.ndarray = field(init=False)
    ids: np.ndarray = field(init=False)  # int64, from 1
    streak: np.ndarray = field(init=False)  # frames matched in a row
    missed: np.ndarray = field(init=False)  # frames since the last match
    age: np.ndarray = field(init=False)  # frames since the track began
    confirmed: np.ndarray = field(init=False)  # bool: output once it has been
    last_box: np.ndarray = field(init=False)  # the last matched detection's box
    labels: np.ndarray = field(init=False)  # int64: the majority label of the track's detections
    votes: np.ndarray = field(init=False)  # int64 [N, labels]: how often each label was matched
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # a tracker's own columns, [N, ...] each
    next_id: int = 1

    def __post_init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        dx = self.model.dim_x
        self.mean, self.cov = np.zeros((0, dx)), np.zeros((0, dx, dx))
        self.ids = np.zeros(0, np.int64)
        self.streak, self.missed, self.age = (np.zeros(0, np.int64) for _ in range(3))
        self.confirmed = np.zeros(0, bool)
        self.last_box = np.zeros((0, 4))
        self.labels = np.zeros(0, np.int64)
        self.votes = np.zeros((0, 1), np.int64)
        self.extra = {name: col[:0] for name, col in self.extra.items()}
        self.next_id = 1

    def __len__(self) -> int:
        return len(self.ids)

    def boxes(self) -> np.ndarray:
        """The filters' current boxes (after ``predict``: where each track is expected now)."""
        return self.model.decode(self.mean)

    def predict(self) -> None:
        self.mean, self.cov = kalman.predict(self.model, self.mean, self.cov)
        self.age += 1
        self.missed += 1

    def update(self, rows: np.ndarray, boxes: np.ndarray, labels: np.ndarray) -> None:
        """Rows ``rows`` matched the detections ``boxes`` (with ``labels``) this frame."""
        if not len(rows):
            return
        self.mean[rows], self.cov[rows] = kalman.update(self.model, self.mean[rows], self.cov[rows], boxes)
        self.streak[rows] = np.where(self.missed[rows] <= 1, self.streak[rows] + 1, 1)
        self.missed[rows] = 0
        self.last_box[rows] = boxes
        labels = np.asarray(labels, np.int64)
        self._room_for(labels)
        self.votes[rows, labels] += 1  # a row is matched once a frame: no repeated index
        current = self.votes[rows, self.labels[rows]]
        self.labels[rows] = np.where(self.votes[rows, labels] > current, labels, self.labels[rows])

    def _room_for(self, labels: np.ndarray) -> None:
        if len(labels) and labels.max() >= self.votes.shape[1]:
            self.votes = np.pad(self.votes, ((0, 0), (0, int(labels.max()) + 1 - self.votes.shape[1])))

    def add(self, boxes: np.ndarray, labels: np.ndarray, **extra: np.ndarray) -> np.ndarray:
        """New tracks from unmatched detections (with the first values of the tracker's ``extra`` columns);
        returns their rows."""
        n = len(boxes)
        start = len(self)
        if not n:
            return np.zeros(0, np.int64)
        mean, cov = self.model.initial(self.model.encode(np.asarray(boxes, np.float64)))
        self.mean, self.cov = np.concatenate([self.mean, mean]), np.concatenate([self.cov, cov])
        self.ids = np.concatenate([self.ids, np.arange(self.next_id, self.next_id + n)])
        self.next_id += n
        ones, zeros = np.ones(n, np.int64), np.zeros(n, np.int64)
        self.streak = np.concatenate([self.streak, ones])
        self.missed, self.age = np.concatenate([self.missed, zeros]), np.concatenate([self.age, zeros])
        self.confirmed = np.concatenate([self.confirmed, np.zeros(n, bool)])
        self.last_box = np.concatenate([self.last_box, np.asarray(boxes, np.float64)])
        labels = np.asarray(labels, np.int64)
        self.labels = np.concatenate([self.labels, labels])
        self._room_for(labels)
        votes = np.zeros((n, self.votes.shape[1]), np.int64)
        votes[np.arange(n), labels] = 1
        self.votes = np.concatenate([self.votes, votes])
        for name, first in extra.items():
            first = np.asarray(first)
            self.extra[name] = first if name not in self.extra else np.concatenate([self.extra[name], first])
        return np.arange(start, start + n)

    def keep(self, mask: np.ndarray) -> None:
        """Drop the rows where ``mask`` is False."""
        for name in ("mean", "cov", "ids", "streak", "missed", "age", "confirmed", "last_box", "labels",
                     "votes"):
            setattr(self, name, getattr(self, name)[mask])
        self.extra = {name: col[mask] for name, col in self.extra.items()}
