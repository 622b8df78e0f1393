"""Per-step loss log (CSV, appended as training runs) and the loss-curve picture."""

from __future__ import annotations

import csv
from pathlib import Path

from edgedet.runtime.atomic import atomic_path

LOSS_NAMES = ("loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg")
COLUMNS = ("step", "epoch", "lr", *LOSS_NAMES, "loss")


class MetricsLog:
    def __init__(self, path: Path, resume: bool = False) -> None:
        self.path = path
        new = not (resume and path.exists())
        self._fh = open(path, "w" if new else "a", newline="")
        self._writer = csv.DictWriter(self._fh, fieldnames=COLUMNS)
        if new:
            self._writer.writeheader()

    def log(self, row: dict) -> None:
        self._writer.writerow({k: row[k] for k in COLUMNS})
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def read_log(path: Path) -> list[dict[str, float]]:
    with open(path, newline="") as fh:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def plot_losses(csv_path: Path, png_path: Path, smooth: int = 20) -> None:
    """Each of the four losses and their sum against the step, moving-averaged."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = read_log(csv_path)
    if not rows:
        return
    steps = np.array([r["step"] for r in rows])
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    for name in (*LOSS_NAMES, "loss"):
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
