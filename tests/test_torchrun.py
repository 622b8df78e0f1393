"""Training across processes on this CPU: ``torchrun`` with the gloo backend, two processes of batch 2
give the first step one process of batch 4 gives; the checkpoint is written once; resuming works."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from edgedet.checkpoints import load_checkpoint
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]


def torchrun(nproc: int, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc),
                           "--master-addr", "127.0.0.1", "--master-port", str(free_port()),
                           "-m", "edgedet.cli.app", "train", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=600)


STEP = ["--max-steps", "1", "--optimizer", "sgd", "--lr", "1.0", "--no-augment", "--frozen-bn", "--eval-every", "-1",
        "--imgsz", "128", "--seed", "3", "--epochs", "2"]


@pytest.mark.slow
def test_two_processes_of_batch_2_equal_one_of_batch_4_and_resume(synth_data, tmp_path):
    """One step of two torchrun processes of batch 2 moves the weights as one process of batch 4 does (both
    under torchrun: its sampler deals the images); the two-process run then resumes where it stopped and
    finishes its epochs (one test, so the resumed run is that one, not a third launch)."""
    from edgedet.training.config import TrainConfig
    from edgedet.training.trainer import build_training_model

    r = torchrun(1, "--data", str(synth_data), "--out", str(tmp_path / "one"), "--batch", "4", *STEP)
    assert r.returncode == 0, r.stderr[-3000:]
    r = torchrun(2, "--data", str(synth_data), "--out", str(tmp_path / "two"), "--batch", "2", *STEP)
    assert r.returncode == 0, r.stderr[-3000:]
    one, two = (load_checkpoint(tmp_path / run / "last.pt")[0]["model"] for run in ("one", "two"))
    torch.manual_seed(3)  # the initial weights both runs started from (rank 0's, broadcast by DDP)
    cfg = TrainConfig(data=str(synth_data), out=str(tmp_path), frozen_bn=True)
    start = build_training_model(cfg, 5, (128, 128)).state_dict()
    moved = 0
    for name, w0 in start.items():
        if not w0.is_floating_point():
            continue
        d1, d2 = one[name] - w0, two[name] - w0
        scale = float(d1.abs().max())
        if scale > 0:
            moved += 1
        assert torch.allclose(d1, d2, rtol=1e-3, atol=1e-3 * scale + 1e-9), (name, float((d1 - d2).abs().max()),
                                                                              scale)
    assert moved > 10  # the step really changed the weights: the comparison is of real gradients
    # written once, by rank 0: one checkpoint pair, one metrics file with the one step
    assert sorted(p.name for p in (tmp_path / "two").glob("*.pt")) == ["best.pt", "last.pt"]
    assert len((tmp_path / "two" / "metrics.csv").read_text().strip().splitlines()) == 2
    to_the_end = STEP[2:]  # without --max-steps: the rest of the epochs
    r = torchrun(2, "--data", str(synth_data), "--out", str(tmp_path / "two"), "--batch", "2", *to_the_end,
                 "--resume")
    assert r.returncode == 0, r.stderr[-3000:]
    resumed, _ = load_checkpoint(tmp_path / "two" / "last.pt")
    assert int(resumed["step"]) > 1 and int(resumed["epoch"]) == 1
