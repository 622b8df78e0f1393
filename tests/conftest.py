"""Shared fixtures: a tiny synthetic data set and a tiny trained model, made once per session."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

# One thread per test process. Under xdist there is a worker per core, and two workers' OpenMP pools would
# spin against each other on the same cores (a training test took 114 s instead of 13); and the numbers a
# test compares must not depend on how the suite is run (a seeded ResNet-50's near-tie resolves one way on
# one thread and the other on two: tests/test_export_parity.py).
os.environ["OMP_NUM_THREADS"] = "1"
# Without a GPU the Triton kernel runs in Triton's interpreter; the switch must be set before
# anything (torch's exporter included) imports triton, so it lives here.
if "TRITON_INTERPRET" not in os.environ:
    try:
        import torch

        if not torch.cuda.is_available():
            os.environ["TRITON_INTERPRET"] = "1"
    except ImportError:  # the torch-free runtime environment
        pass
# OpenVINO's model cache (runtime/openvino_cache.py) in a folder of this run's, not the user's ~/.cache
if "EDGEDET_CACHE" not in os.environ:  # set by the first process (xdist's workers inherit it), removed by it
    import atexit
    import tempfile

    os.environ["EDGEDET_CACHE"] = tempfile.mkdtemp(prefix="edgedet-test-cache-")
    atexit.register(shutil.rmtree, os.environ["EDGEDET_CACHE"], True)
ROOT = Path(__file__).resolve().parents[1]
CANVAS = (128, 128)


# The files that take longest (``--durations=0``, summed per file), started first: pytest-xdist hands whole
# files to workers in collection order (pyproject: --no-loadscope-reorder), so a long file at the end would
# leave the other workers idle while it runs. The exports these share are made by the first of them.
# Only an order: a stale list costs minutes, never a result.
LONG_FILES = ("test_export_parity_torchvision.py", "test_torchrun.py", "test_torch_free_env.py",
              "test_ray_cluster.py", "runtime/test_rtsp.py", "test_profile_stages.py", "test_serve_streams.py",
              "test_quantize.py", "test_cli_workflow.py", "test_lineage.py", "test_install.py",
              "test_keypoint_export.py", "test_quantize_architectures.py", "runtime/test_streaming.py",
              "test_tracking_data.py", "runtime/test_multistream.py", "test_serve.py", "test_training.py",
              "runtime/test_bad_data.py", "test_export_parity.py")


def _start_rank(item: pytest.Item) -> int:
    path = item.path.relative_to(ROOT / "tests").as_posix() if item.path.is_relative_to(ROOT / "tests") else ""
    return LONG_FILES.index(path) if path in LONG_FILES else len(LONG_FILES)


def pytest_collection_modifyitems(config, items):
    items.sort(key=_start_rank)  # stable: a file's tests keep their order
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


def made_once(request: pytest.FixtureRequest, name: str, make: Callable[[Path], object]) -> Path:
    """The folder of a session fixture's files, made once per test run. Under pytest-xdist every worker has
    its own session, so the first worker to ask makes the files under a lock in the run's shared temporary
    folder and the others wait and reuse them: a model is trained and a file exported once, not per worker."""
    factory = request.getfixturevalue("tmp_path_factory")
    shared = hasattr(request.config, "workerinput")  # an xdist worker: the run's folder is one level up
    root = (factory.getbasetemp().parent if shared else factory.getbasetemp()) / f"shared-{name}"
    done = root / ".made"
    if shared:
        from filelock import FileLock  # imported here: the torch-free copy of the runtime tests lacks it

        lock = FileLock(str(root) + ".lock")
    else:
        lock = contextlib.nullcontext()
    with lock:
        if not done.exists():
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir(parents=True)
            make(root)
            done.touch()
    return root


@pytest.fixture(scope="session")
def synth_data(request) -> Path:
    from edgedet.data.synthetic import synthesize

    return made_once(request, "shapes", lambda root: synthesize(root, 30, seed=0, size=CANVAS, val_fraction=0.2))


@dataclass(frozen=True)
class Trained:
    """What the training run wrote (the paths of ``TrainResult``)."""

    best: Path
    last: Path
    metrics_csv: Path
    curve_png: Path

    @classmethod
    def in_folder(cls, folder: Path) -> Trained:
        return cls(folder / "best.pt", folder / "last.pt", folder / "metrics.csv", folder / "loss_curve.png")


@pytest.fixture(scope="session")
def trained(synth_data, request) -> Trained:
    """The small edge architecture trained for a few dozen steps at a 128x128 canvas."""

    def make(out: Path) -> None:
        import torch

        from edgedet.training.trainer import TrainConfig, train

        torch.manual_seed(0)
        cfg = TrainConfig(data=str(synth_data), out=str(out), epochs=6, batch_size=4, lr=2e-3, canvas=CANVAS,
                          eval_every=-1, warmup_steps=10, seed=0)
        result = train(cfg)
        assert Trained.in_folder(out) == Trained(result.best, result.last, result.metrics_csv, result.curve_png)

    return Trained.in_folder(made_once(request, "run", make))


@pytest.fixture(scope="session")
def edge_onnx(trained, request) -> Path:
    """The trained model exported with a dynamic batch."""

    def make(root: Path) -> None:
        from edgedet.checkpoints import model_from_checkpoint
        from edgedet.export.onnx_export import ExportOptions, export_onnx

        model, meta = model_from_checkpoint(trained.best)
        export_onnx(model, meta.model_metadata(), root / "edge.onnx", ExportOptions(canvas=meta.canvas, batch=None))

    return made_once(request, "onnx", make) / "edge.onnx"


def free_port() -> int:
    """A loopback TCP port nobody listens on right now (for the servers the tests start)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``edgedet`` as a user would, in a fresh interpreter."""
    return subprocess.run([sys.executable, "-m", "edgedet.cli.app", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd or ROOT, env={**os.environ, **(env or {})}, timeout=600)


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``edgedet`` in this process (``main([...])``, its stdout and stderr captured): what a parser
    refusal or a bad file gives, without a fresh interpreter per case. ``run_cli`` is for what needs one."""
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
def seeded_export(request):
    """``seeded_export(arch, canvas)`` -> (model, class names, dynamic-batch ONNX file) of a seeded
    5-class model, exported once per run: the parity and the profile-stage tests share files
    (a ResNet-50 export alone takes a quarter of a minute here)."""
    from edgedet.architectures.seeded import seeded_model

    names = ("__background__",) + tuple(f"c{i}" for i in range(1, 5))
    made: dict = {}

    def make(arch: str, canvas: tuple[int, int]):
        if (arch, canvas) in made:
            return made[(arch, canvas)]
        def export(root: Path) -> None:
            from edgedet.export.onnx_export import ExportOptions, export_onnx
            from edgedet.runtime.model_metadata import ModelMetadata

            model = seeded_model(arch, 5, canvas, seed=0)
            export_onnx(model, ModelMetadata(arch, names, canvas), root / f"{arch}.onnx",
                        ExportOptions(canvas, batch=None))

        path = made_once(request, f"seeded-{arch}-{canvas[0]}x{canvas[1]}", export) / f"{arch}.onnx"
        # the same seeded weights in every worker: the file's model
        made[(arch, canvas)] = seeded_model(arch, 5, canvas, seed=0), names, path
        return made[(arch, canvas)]

    return make


@dataclass(frozen=True)
class SeededFiles:
    checkpoint: Path  # the seeded edge model as a checkpoint (what ``train`` writes)
    onnx: Path  # its dynamic-batch export (``seeded_onnx``)


@pytest.fixture(scope="session")
def seeded_files(seeded_export, request) -> SeededFiles:
    """A checkpoint and its export without training: for the tests of file handling, graphs and error paths,
    which need real files but no accuracy (those use ``trained``)."""
    model, names, path = seeded_export("fasterrcnn_edge_fpn", CANVAS)

    def make(root: Path) -> None:
        from edgedet.checkpoints import CheckpointMeta, save_checkpoint

        save_checkpoint(root / "seeded.pt", model, CheckpointMeta("fasterrcnn_edge_fpn", names, CANVAS))

    return SeededFiles(made_once(request, "seeded-checkpoint", make) / "seeded.pt", path)
