"""What to install for a missing package: the one table every "not installed" message reads.

A message names the package that is missing and the ``pip install`` line that brings it; the table maps
each optional package (by its import name) to the edgedet extra that pins it, so the hint always matches
``pyproject.toml``'s extras (``tests/test_install.py`` checks that every extra named here exists).
"""

from __future__ import annotations

from edgedet.runtime.errors import EdgedetError

# import name -> the extra that installs it ("train" for the exporter's and trainer's side)
EXTRA_FOR = {
    "torch": "train", "torchvision": "train", "onnxscript": "train", "pycocotools": "train",
    "onnx": "openvino", "openvino": "openvino",
    "nncf": "quantize",
    "tensorrt": "trt", "polygraphy": "trt", "triton": "trt", "cuda": "trt",
    "ray": "cluster",
    "fastapi": "serve", "starlette": "serve", "uvicorn": "serve", "prometheus_client": "serve",
    "multipart": "serve", "python_multipart": "serve", "PIL": "serve", "fastapi_offline": "serve",
}
WHERE = "(in the edgedet checkout)"
# packages whose line is not a plain extra
SPECIAL = {
    "cuda": f"pip install -e '.[trt]' (CUDA 13 driver) or -e '.[trt-cu12]' (CUDA 12 driver) {WHERE}",
    "cv2.ximgproc": "pip install opencv-contrib-python-headless, and no plain opencv-python wheel over it",
}


def extra_for(package: str) -> str:
    """The extra that installs ``package`` (its top-level import name); the trainer's side by default."""
    return EXTRA_FOR.get(package.split(".")[0], "train")


def install_line(package: str) -> str:
    if package in SPECIAL:
        return SPECIAL[package]
    return extras_line(extra_for(package))


def extras_line(extras: str) -> str:
    """The install that brings ``extras``: from the edgedet checkout (the package is not on PyPI)."""
    return f"pip install -e '.[{extras}]' {WHERE}"


def missing(what: str, package: str, note: str = "") -> EdgedetError:
    """``what`` needs ``package``, which this install lacks: one line with the install that brings it."""
    return EdgedetError(f"{what} needs {package}, which is not installed: {install_line(package)}"
                        + (f" {note}" if note else ""))
