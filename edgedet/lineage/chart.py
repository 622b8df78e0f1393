"""The lineage's picture: mAP@.5 and milliseconds per image (stacked: proposals, features, head) of
every method side by side. A method timed as one call (Faster R-CNN: RPN and heads in one network)
is one bar segment."""

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
    left = [0.0] * len(rows)
    for stage, color in (("s_proposals", "#dd8452"), ("s_features", "#55a868"), ("s_head", "#8172b2")):
        ms = [1e3 * (r.get(stage) if stage in r else (r["s_per_image"] if stage == "s_features" else 0.0))
              for r in rows]
        label = "features (or whole network)" if stage == "s_features" else stage[2:]
        ax2.barh(names, ms, left=left, color=color, label=label)
        left = [a + b for a, b in zip(left, ms)]
    ax2.set_xlabel("milliseconds per image")
    ax2.legend(loc="lower right", fontsize=8)
    ax2.invert_yaxis()
    ax2.set_yticklabels([])
    for ax in (ax1, ax2):
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle("edgedet lineage: the road to Faster R-CNN on one data set, one CPU")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
