"""``edgedet check``: run a reference detector (the eager model) and the exported file on the same
canvas images and compare, detection by detection.

The reference is passed in as a ``Detector`` (the CLI builds the eager one): the exporter never
decides which backend is the truth, and any backend can be checked against any other."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgedet.export.parity import ParityReport, compare, outputs_per_image
from edgedet.runtime.detector import Detector
from edgedet.runtime.letterbox import letterbox
from edgedet.runtime.onnx_detector import OnnxDetector


def sample_photos() -> list[tuple[str, np.ndarray]]:
    """Real photographs shipped with scikit-image (no download), when it is installed."""
    try:
        from skimage import data
    except ImportError:
        return []
    photos = []
    for name in ("astronaut", "coffee", "chelsea", "rocket"):
        image = getattr(data, name)()
        if image.ndim == 3 and image.shape[2] == 3:
            photos.append((name, np.ascontiguousarray(image.astype(np.uint8))))
    return photos


def synthetic_images(canvas: tuple[int, int], count: int, seed: int = 1234,
                     task: str = "detection") -> list[tuple[str, np.ndarray]]:
    """Shapes (``detection``) or stick figures (``keypoints``) at the canvas size."""
    from edgedet.data.synthetic import render_image
    from edgedet.data.synthetic_pose import render_figures

    render = render_figures if task == "keypoints" else render_image
    rng = np.random.default_rng(seed)
    return [(f"synthetic{i}", render(rng, canvas)[0]) for i in range(count)]


def crop_to_aspect(image: np.ndarray, canvas: tuple[int, int]) -> np.ndarray:
    """Centre-crop to the canvas aspect ratio, so the letterboxed photo has no constant padding.

    Random-weight models score the anchors of a constant region identically; torch.topk and
    ONNX TopK break such exact ties differently, which would show up as differences that say
    nothing about the export. Real photos are still real photos.
    """
    h, w = image.shape[:2]
    target = canvas[1] / canvas[0]
    if w / h > target:
        nw = round(h * target)
        return image[:, (w - nw) // 2:(w - nw) // 2 + nw]
    nh = round(w / target)
    return image[(h - nh) // 2:(h - nh) // 2 + nh]


def parity_images(canvas: tuple[int, int], folder: str | Path | None = None, synthetic: int = 4,
                  photos: bool = True, task: str = "detection") -> list[tuple[str, np.ndarray]]:
    images = synthetic_images(canvas, synthetic, task=task)
    if photos:
        images += [(name, crop_to_aspect(img, canvas)) for name, img in sample_photos()]
    if folder:
        from edgedet.runtime.images import list_images, read_rgb

        images += [(p.name, read_rgb(p)) for p in list_images(folder)]
    return images


def check_parity(onnx_path: str | Path, reference: Detector, images: Sequence[tuple[str, np.ndarray]],
                 batch: int = 4) -> ParityReport:
    """``reference`` (one image at a time) vs onnxruntime on the same canvases, per image; then batch-B vs batch-1."""
    with OnnxDetector(onnx_path) as detector:
        return compare_detectors(detector, reference, images, batch)


def compare_detectors(detector: Detector, reference: Detector, images: Sequence[tuple[str, np.ndarray]],
                      batch: int = 4) -> ParityReport:
    """Any deployed-model backend (``detector``, with its file's ``meta``) against a reference backend on
    the same canvases: per image at batch 1 (or the file's fixed batch), then batch-B vs batch-1."""
    canvas, fill = detector.canvas, detector.fill
    canvases = [letterbox(img, canvas, fill)[0] for _, img in images]
    k = detector.meta.max_detections
    fixed = detector.fixed_batch

    def run(chunk: list[np.ndarray]) -> list:
        n = len(chunk)
        padded = chunk + [np.full_like(chunk[0], fill)] * ((fixed or n) - n)
        return outputs_per_image(detector.infer(np.stack(padded)))[:n]

    step = fixed or 1
    singles = [d for s in range(0, len(canvases), step) for d in run(canvases[s:s + step])]
    report = ParityReport([])
    refs = [outputs_per_image(reference.infer(canvas_img[None]))[0] for canvas_img in canvases]
    for (name, _), ref, cand in zip(images, refs, singles):
        report.images.append(compare(name, ref, cand, k))
    if fixed is None and batch > 1 and len(canvases) >= 2:
        diffs = []
        for start in range(0, len(canvases), batch):
            chunk = canvases[start:start + batch]
            for (name, _), ref, one, many in zip(images[start:start + batch], refs[start:start + batch],
                                                 singles[start:start + batch], run(chunk)):
                report.batch_images.append(compare(name, ref, many, k))
                if len(one[1]) != len(many[1]) or not np.array_equal(one[2], many[2]):
                    diffs.append(float("inf"))
                elif len(one[1]):
                    diffs.append(float(max(np.abs(one[0] - many[0]).max(), np.abs(one[1] - many[1]).max())))
        report.batch_max_diff = max(diffs) if diffs else 0.0
        report.batch_consistent = report.batch_max_diff <= 1e-3
    return report
