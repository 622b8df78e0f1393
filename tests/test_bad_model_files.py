"""Every command that takes a model file answers a missing, empty, truncated, random-bytes or
wrong-kind file with one ``error:`` line and exit 2, never a traceback, and writes nothing.

The CLI runs in-process (``edgedet.cli.app.main``, exactly what the console script calls), so the
whole matrix takes seconds; ``tests/test_cli_errors.py`` covers a fresh interpreter."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edgedet.cli.app import main

KINDS = ("missing", "empty", "truncated", "random-bytes", "wrong-kind")
# command -> (the model file's suffix, the rest of the command line around it)
COMMANDS = {
    "info": (".onnx", lambda m, ctx: ["info", m]),
    "check": (".onnx", lambda m, ctx: ["check", m, "--weights", ctx["weights"]]),
    "eval": (".onnx", lambda m, ctx: ["eval", m, "--data", ctx["data"]]),
    "predict": (".onnx", lambda m, ctx: ["predict", m, ctx["images"], "--out", ctx["out"]]),
    "run": (".onnx", lambda m, ctx: ["run", m, "--source", ctx["images"], "--max-frames", "1",
                                     "--jsonl", ctx["out"] / "d.jsonl"]),
    "profile": (".onnx", lambda m, ctx: ["profile", m, "--iters", "1", "--report", ctx["out"] / "p.json"]),
    "quantize": (".onnx", lambda m, ctx: ["quantize", m, "--calib", ctx["images"], "-o", ctx["out"] / "q.onnx"]),
    "build": (".onnx", lambda m, ctx: ["build", m, "-o", ctx["out"] / "m.engine"]),
    "export": (".pt", lambda m, ctx: ["export", m, "-o", ctx["out"] / "m.onnx"]),
    "eval-checkpoint": (".pt", lambda m, ctx: ["eval", m, "--data", ctx["data"]]),
    "info-checkpoint": (".pt", lambda m, ctx: ["info", m]),
}


def _bad_file(kind: str, suffix: str, folder: Path, real: dict[str, Path]) -> Path:
    path = folder / f"model{suffix}"
    good = real[suffix].read_bytes()
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif kind == "random-bytes":
        path.write_bytes(os.urandom(4096))
    elif kind == "wrong-kind":  # the other kind of model under this suffix
        path.write_bytes(real[".pt" if suffix == ".onnx" else ".onnx"].read_bytes())
    return path


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("command", list(COMMANDS))
def test_bad_model_file(command, kind, seeded_files, synth_data, tmp_path, capsys):
    suffix, argv = COMMANDS[command]
    bad_dir, out = tmp_path / "bad", tmp_path / "out"
    bad_dir.mkdir()
    out.mkdir()
    model = _bad_file(kind, suffix, bad_dir, {".onnx": seeded_files.onnx, ".pt": seeded_files.checkpoint})
    ctx = {"weights": seeded_files.checkpoint, "data": synth_data, "images": synth_data / "val" / "images", "out": out}
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in argv(model, ctx)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    assert str(model) in lines[0] or kind == "missing" and "does not exist" in lines[0], lines[0]
    assert not list(out.iterdir()), "something was written"
