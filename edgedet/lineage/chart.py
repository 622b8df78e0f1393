"""The lineage's picture: mAP@.5 and seconds per image of every method side by side."""

from __future__ import annotations

from pathlib import Path

from edgedet.runtime.atomic import atomic_path


def plot_lineage(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r.get("map50") is not None]
    names = [r["method"] for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=100)
    ax1.barh(names, [r["map50"] for r in rows], color="#4c72b0")
    ax1.set_xlabel("mAP@.5 (pycocotools)")
    ax1.set_xlim(0, 1)
    ax1.invert_yaxis()
    ax2.barh(names, [r["s_per_image"] for r in rows], color="#dd8452")
    ax2.set_xscale("log")
    ax2.set_xlabel("seconds per image (log): proposals + features + head")
    ax2.invert_yaxis()
    ax2.set_yticklabels([])
    for ax in (ax1, ax2):
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle("edgedet lineage: the road to Faster R-CNN on one data set, one CPU")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
