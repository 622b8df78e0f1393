"""Per-step loss log (CSV, appended as training runs) and the loss-curve picture."""

from __future__ import annotations

import csv
from pathlib import Path

from edgedet.runtime.atomic import atomic_path

LOSS_NAMES = ("loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg")
KEYPOINT_LOSS = "loss_keypoint"  # Keypoint R-CNN's fifth loss


def loss_names(keypoints: bool) -> tuple[str, ...]:
    """The losses a model logs: Faster R-CNN's four, plus the keypoint loss for a Keypoint R-CNN."""
    return (*LOSS_NAMES, KEYPOINT_LOSS) if keypoints else LOSS_NAMES


class MetricsLog:
    def __init__(self, path: Path, resume: bool = False, keypoints: bool = False) -> None:
        self.path = path
        self.columns = ("step", "epoch", "lr", *loss_names(keypoints), "loss")
        new = not (resume and path.exists())
        self._fh = open(path, "w" if new else "a", newline="")
        self._writer = csv.DictWriter(self._fh, fieldnames=self.columns)
        if new:
            self._writer.writeheader()

    def log(self, row: dict) -> None:
        self._writer.writerow({k: row[k] for k in self.columns})
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def read_log(path: Path) -> list[dict[str, float]]:
    with open(path, newline="") as fh:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def plot_losses(csv_path: Path, png_path: Path, smooth: int = 20) -> None:
    """Each loss (four, or five with keypoints) and their sum against the step, moving-averaged."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = read_log(csv_path)
    if not rows:
        return
    steps = np.array([r["step"] for r in rows])
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    for name in (*[n for n in loss_names(True) if n in rows[0]], "loss"):
        values = np.array([r[name] for r in rows])
        k = max(1, min(smooth, len(values) // 5 or 1))
        smoothed = np.convolve(values, np.ones(k) / k, mode="valid")
        ax.plot(steps[k - 1:], smoothed, label=name, linewidth=2 if name == "loss" else 1.2)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("edgedet training losses")
    fig.tight_layout()
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp)
    plt.close(fig)
