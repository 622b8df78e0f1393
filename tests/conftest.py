"""Shared fixtures: a tiny synthetic data set and a tiny trained model, made once per session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "2")
# Without a GPU the Triton kernel runs in Triton's interpreter; the switch must be set before
# anything (torch's exporter included) imports triton, so it lives here.
if "TRITON_INTERPRET" not in os.environ:
    try:
        import torch

        if not torch.cuda.is_available():
            os.environ["TRITON_INTERPRET"] = "1"
    except ImportError:  # the torch-free runtime environment
        pass
ROOT = Path(__file__).resolve().parents[1]
CANVAS = (128, 128)


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_gpu = torch.cuda.is_available()
    except ImportError:
        has_gpu = False
    try:
        import tensorrt  # noqa: F401

        has_trt = True
    except ImportError:
        has_trt = False
    for item in items:
        if "gpu" in item.keywords and not has_gpu:
            item.add_marker(pytest.mark.skip(reason="no CUDA GPU here"))
        if "tensorrt" in item.keywords and not (has_trt and has_gpu):
            item.add_marker(pytest.mark.skip(reason="TensorRT and a GPU are not both present"))


@pytest.fixture(scope="session")
def synth_data(tmp_path_factory) -> Path:
    from edgedet.data.synthetic import synthesize

    root = tmp_path_factory.mktemp("shapes")
    synthesize(root, 30, seed=0, size=CANVAS, val_fraction=0.2)
    return root


@pytest.fixture(scope="session")
def trained(synth_data, tmp_path_factory):
    """The small edge architecture trained for a few dozen steps at a 128x128 canvas."""
    import torch

    from edgedet.training.trainer import TrainConfig, train

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("run")
    cfg = TrainConfig(data=str(synth_data), out=str(out), epochs=6, batch_size=4, lr=2e-3, canvas=CANVAS,
                      eval_every=-1, warmup_steps=10, seed=0)
    return train(cfg)


@pytest.fixture(scope="session")
def edge_onnx(trained, tmp_path_factory) -> Path:
    """The trained model exported with a dynamic batch."""
    from edgedet.checkpoints import model_from_checkpoint
    from edgedet.export.onnx_export import ExportOptions, export_onnx

    model, meta = model_from_checkpoint(trained.best)
    path = tmp_path_factory.mktemp("onnx") / "edge.onnx"
    return export_onnx(model, meta.model_metadata(), path, ExportOptions(canvas=meta.canvas, batch=None))


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``edgedet`` as a user would, in a fresh interpreter."""
    return subprocess.run([sys.executable, "-m", "edgedet.cli.app", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd or ROOT, env={**os.environ, **(env or {})}, timeout=600)


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``edgedet`` in this process (``main([...])``, its stdout and stderr captured): what a parser
    refusal or a bad file gives, without a fresh interpreter per case. ``run_cli`` is for what needs one."""
    import contextlib
    import io

    from edgedet.cli.app import main

    out, err, here = io.StringIO(), io.StringIO(), Path.cwd()
    code = 0
    try:
        os.chdir(cwd or ROOT)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        os.chdir(here)
    return subprocess.CompletedProcess(["edgedet", *map(str, args)], code, out.getvalue(), err.getvalue())


def assert_one_line_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [ln for ln in result.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture(scope="session")
def seeded_onnx(seeded_export) -> Path:
    """The small edge architecture with seeded weights (distinct detections, no training) at the test canvas,
    dynamic batch: what the runtime tests run, since they test the engine, not the model's accuracy."""
    return seeded_export("fasterrcnn_edge_fpn", CANVAS)[2]


@pytest.fixture(scope="session")
def seeded_export(tmp_path_factory):
    """``seeded_export(arch, canvas)`` -> (model, class names, dynamic-batch ONNX file) of a seeded
    5-class model, exported once per session: the parity and the profile-stage tests share files
    (a ResNet-50 export alone takes a quarter of a minute here)."""
    from edgedet.architectures.seeded import seeded_model
    from edgedet.export.onnx_export import ExportOptions, export_onnx
    from edgedet.runtime.model_metadata import ModelMetadata

    made: dict = {}

    def make(arch: str, canvas: tuple[int, int]):
        if (arch, canvas) not in made:
            model = seeded_model(arch, 5, canvas, seed=0)
            names = ("__background__",) + tuple(f"c{i}" for i in range(1, 5))
            path = tmp_path_factory.mktemp("seeded") / f"{arch}.onnx"
            export_onnx(model, ModelMetadata(arch, names, canvas), path, ExportOptions(canvas, batch=None))
            made[(arch, canvas)] = (model, names, path)
        return made[(arch, canvas)]

    return make

