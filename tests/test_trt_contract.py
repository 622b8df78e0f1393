"""TensorRT's own plugin code drives ours: for several TensorRT releases, the real pure-Python
``tensorrt/plugin`` package from the ``tensorrt-cu12-bindings`` wheel (fetched from the package
index once and cached) runs over a labelled stand-in for the compiled core
(``tests/trt_contract/standin.py``: it proves registration, field decoding and launch math, not an
engine). Fields are encoded as the ONNX parser encodes them (one-element INT32/FLOAT32 arrays,
NUL-terminated CHAR strings), under this project's NumPy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VERSIONS = ("10.9.0.34", "10.16.1.11", "11.4.0.106")  # the first with AOT plugins, the newest 10.x, an 11.x
CACHE = Path.home() / ".cache" / "edgedet" / "tensorrt-bindings"
pytestmark = [pytest.mark.trt_contract, pytest.mark.slow]


def wheel_dir(version: str) -> Path:
    """The unpacked wheel of ``version`` (downloaded once); skips cleanly where the index is unreachable."""
    target = CACHE / version
    if (target / "tensorrt_bindings" / "plugin" / "_lib.py").is_file():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    py = f"{sys.version_info.major}{sys.version_info.minor}"
    r = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                        "--python-version", py, "--platform", "manylinux_2_28_x86_64", "-d", str(CACHE),
                        f"tensorrt-cu12-bindings=={version}"], capture_output=True, text=True, timeout=300)
    wheels = sorted(CACHE.glob(f"tensorrt_cu12_bindings-{version}-*.whl"))
    if r.returncode != 0 or not wheels:
        pytest.skip(f"cannot fetch tensorrt-cu12-bindings {version} from the package index: "
                    f"{(r.stderr.strip().splitlines() or ['no wheel'])[-1]}")
    with zipfile.ZipFile(wheels[0]) as zf:
        zf.extractall(target, [n for n in zf.namelist() if n.startswith("tensorrt_bindings/plugin/")])
    return target


def drive(version: str, mode: str, *flags: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}  # a real (AOT) compile
    r = subprocess.run([sys.executable, "-m", "tests.trt_contract.drive", str(wheel_dir(version)), version, mode,
                        *flags], capture_output=True, text=True, cwd=ROOT, timeout=600, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("mode", ["align", "pool"])
@pytest.mark.parametrize("version", VERSIONS)
def test_plugin_through_tensorrts_own_plugin_code(version, mode):
    out = drive(version, mode)
    assert out["stand_in_core"] and out["registered"], out
    assert "create_error" not in out, out.get("create_traceback")
    # the parser's CHAR string arrives with its NUL: a plain == "pool" would silently run RoI Align
    assert out["decoded_mode"] == mode + "\x00"
    assert out["output_types"] == ["FLOAT"]
    assert out["output_shape"] == [2, 100, 64, 7, 7]  # B, R, C, 7, 7
    # RoIs stay fp32; levels and output fp32 or fp16 together
    assert out["combinations"] == [["FLOAT"] * 6, ["FLOAT"] + ["HALF"] * 5]
    for dtype in ("fp32", "fp16"):
        launch = out["launch"][dtype]
        assert launch["grid"] == [2 * 100, -(-64 // launch["block_c"]), 1]
        assert launch["block_x"] == launch["expected_block_x"]
        # extra ints in the kernel's order: C, R, then H, W of every level (canvas 256, strides 4..32)
        assert launch["extra_args"] == [64, 100, 64, 64, 32, 32, 16, 16, 8, 8]
        assert launch["kernel"] == "roi_align_4" and launch["ptx_target_sm_87"]
        assert launch["ptx_is_the_specs_kernel"]
        assert launch["pool_kernel"] is (mode == "pool")


@pytest.mark.parametrize("version", VERSIONS[:2])
def test_int_and_float_fields_fail_on_tensorrt_10_under_numpy_2_4(version):
    """Why the numeric fields are declared as arrays: declared int/float (as before), TensorRT 10.x
    converts the parser's one-element arrays with int(array), which NumPy >= 2.4 refuses."""
    import numpy as np

    out = drive(version, "pool", "--legacy-fields")
    if tuple(int(p) for p in np.__version__.split(".")[:2]) >= (2, 4):
        assert "only 0-dimensional arrays can be converted" in out["create_error"], out
    else:
        assert "create_error" not in out
