"""The kernel compiled ahead of time to PTX, as the TensorRT plugin embeds it: every pyramid depth,
both modes, fp32 and fp16, for Jetson (sm_72, sm_87) and server (sm_89, sm_90) GPUs, in a process
where torch cannot be imported and there is no GPU (a torch-free build host)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from edgedet.export.plugins.ptx import check_driver, ptx_isa
from edgedet.export.plugins.trt_plugin import check_tensorrt_version
from edgedet.export.roi_spec import RoIAlignSpec, RoIMode
from edgedet.runtime.errors import EdgedetError

ROOT = Path(__file__).resolve().parents[1]
BLOCK_TORCH = """
import sys
class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is not installed on this build host")
sys.meta_path.insert(0, _NoTorch())
"""


def compile_without_torch(variants: list[tuple]) -> list[dict]:
    code = BLOCK_TORCH + """
import json
from edgedet.export.plugins import compile_ptx
out = []
for levels, mode, dtype, target in json.loads(sys.argv[1]):
    out.append({"variant": [levels, mode, dtype, target], "ptx": compile_ptx(levels, mode, dtype, target)})
assert "torch" not in sys.modules
print(json.dumps(out))
"""
    r = subprocess.run([sys.executable, "-c", code, json.dumps(variants)], capture_output=True, text=True,
                       timeout=900, cwd=ROOT, env={"PATH": "/usr/bin:/bin", "CUDA_VISIBLE_DEVICES": ""})
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)


def check_entry(ptx: str, levels: int, target: str) -> None:
    """TensorRT's AOT convention: input pointers (RoIs, levels), extra ints (C, R, H/W per level), output."""
    assert re.search(rf"^\.target {target}a?\b", ptx, re.MULTILINE)  # sm_90a: Hopper-specific features
    entry = re.search(rf"\.entry roi_align_{levels}\((.*?)\)", ptx, re.DOTALL).group(1)
    kinds = ["ptr" if ".ptr" in p else "u32" if ".u32" in p or ".b32" in p else "?" for p in entry.split(",")]
    expected = ["ptr"] * (levels + 1) + ["u32"] * (2 + 2 * levels) + ["ptr"]
    assert kinds[: len(expected)] == expected, kinds
    # Triton >= 3.3 appends its scratch pointers after the output (tolerated by TensorRT, as in
    # NVIDIA's own Triton AOT sample); nothing else may follow
    assert all(k == "ptr" for k in kinds[len(expected):]) and len(kinds) - len(expected) <= 2, kinds
    assert ptx_isa(ptx) >= (7, 8)


def test_one_variant_compiles_without_torch():
    (result,) = compile_without_torch([(3, "align", "fp32", "sm_87")])
    check_entry(result["ptx"], 3, "sm_87")


@pytest.mark.slow
def test_every_variant_compiles_without_torch():
    variants = [(levels, mode, dtype, target) for target in ("sm_72", "sm_87", "sm_89", "sm_90")
                for levels in range(1, 6) for mode in ("align", "pool") for dtype in ("fp32", "fp16")]
    results = compile_without_torch(variants)
    assert len(results) == 80
    for result in results:
        levels, mode, dtype, target = result["variant"]
        check_entry(result["ptx"], levels, target)
        # fp16 levels are loaded as halves and the output stored as one; RoIs stay fp32
        assert ("ld.global.b16" in result["ptx"] or "ld.global.u16" in result["ptx"]) == (dtype == "fp16")


def test_driver_too_old_for_the_ptx_is_refused():
    ptx = ".version 8.8\n.target sm_87\n"
    check_driver(ptx, 12090)
    check_driver(ptx, 13000)
    with pytest.raises(EdgedetError, match="supports CUDA 12.6, but .* PTX ISA 8.8, which needs CUDA 12.9"):
        check_driver(ptx, 12060)
    check_driver(".version 8.0\n", 12000)


def test_tensorrt_without_aot_plugins_is_refused():
    for version in ("10.9.0.34", "10.16.1.11", "11.4.0.106"):
        check_tensorrt_version(version)
    for version in ("10.8.0.43", "10.7.0", "10.3.0"):
        with pytest.raises(EdgedetError, match="no ahead-of-time Python plugins"):
            check_tensorrt_version(version)


def test_spec_reads_fields_as_the_tensorrt_parser_hands_them():
    """INT as a one-element INT32 array, FLOAT as FLOAT32, INTS as INT32, STRING as NUL-terminated CHAR."""
    spec = RoIAlignSpec((4, 8, 16, 32), mode=RoIMode.pool, sampling_ratio=0, aligned=True)
    attrs = spec.node_attributes()
    encoded = {k: (np.array([v], np.int32) if isinstance(v, int) else np.array([v], np.float32)
                   if isinstance(v, float) else np.array(v, np.int32) if isinstance(v, list)
                   else (v + "\x00")) for k, v in attrs.items()}
    decoded = RoIAlignSpec.from_attributes(encoded)
    assert decoded.level_eps == np.float32(1e-6)  # what the ONNX attribute (FLOAT) holds, too
    assert replace(decoded, level_eps=spec.level_eps) == spec and decoded.kernel_constants(256)["POOL"] is True
    as_chars = {**encoded, "mode": np.frombuffer(b"pool\x00", np.int8)}
    assert RoIAlignSpec.from_attributes(as_chars).mode is RoIMode.pool
