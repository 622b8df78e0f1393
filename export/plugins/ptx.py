"""Ahead-of-time compilation of the MultiLevelRoIAlign kernel to PTX, for the TensorRT plugin.

Triton compiles for an explicit ``GPUTarget`` made from the device's compute capability, so no
GPU, no CUDA driver and no torch are needed (Triton's active driver, which a target-less compile
asks, imports torch): a Jetson with only the torch-free runtime can build engines, and the tests
compile every variant on a CPU-only machine. The PTX's ISA version decides which CUDA drivers can
load it; :func:`check_driver` refuses an old driver with one line before TensorRT would fail at
enqueue.
"""

from __future__ import annotations

import inspect
import os
import re
from dataclasses import dataclass

from edgedet.export.roi_spec import RoIAlignSpec, RoIMode
from edgedet.runtime.errors import EdgedetError

DTYPES = ("fp32", "fp16")
TRITON_TESTED = "3.8"  # the Triton release the compile tests ran with (see docs/tensorrt.md)
# PTX ISA version -> the first CUDA release (and so driver) that loads it (NVIDIA's PTX ISA notes).
PTX_ISA_CUDA = {
    (7, 8): (11, 8), (8, 0): (12, 0), (8, 1): (12, 1), (8, 2): (12, 2), (8, 3): (12, 3), (8, 4): (12, 4),
    (8, 5): (12, 5), (8, 6): (12, 7), (8, 7): (12, 8), (8, 8): (12, 9), (9, 0): (13, 0), (9, 1): (13, 1),
}
DEFAULT_STRIDES = (4, 8, 16, 32, 64)  # torchvision's FPN levels


@dataclass(frozen=True)
class CompiledKernel:
    name: str  # the PTX entry point
    ptx: str
    num_warps: int
    shared: int  # bytes of shared memory per block


def parse_target(target: str):
    """'sm_87' -> Triton's GPUTarget('cuda', 87, 32)."""
    from triton.backends.compiler import GPUTarget

    match = re.fullmatch(r"sm_(\d{2,3})a?", target)
    if not match:
        raise ValueError(f"target '{target}' is not a CUDA architecture like sm_87")
    return GPUTarget("cuda", int(match.group(1)), 32)


def _signature(kernel, constants: dict, dtype: str) -> dict[str, str]:
    names = list(inspect.signature(kernel.fn).parameters)
    return {n: ("*fp32" if n == "rois_ptr" else f"*{dtype}" if n.startswith("f") or n == "out_ptr"
                else "constexpr" if n in constants else "i32") for n in names}


def compile_kernel(spec: RoIAlignSpec, dtype: str, target: str, channels: int = 256) -> CompiledKernel:
    """The kernel for ``spec`` (levels, mode, constants), ``dtype`` levels/output, compiled for ``target``."""
    import triton

    from edgedet.export.plugins.roi_align_kernel import KERNELS

    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    if os.environ.get("TRITON_INTERPRET", "0") not in ("", "0"):
        raise EdgedetError("TRITON_INTERPRET is set: Triton's interpreter cannot compile kernels ahead of time; "
                           "unset it to build TensorRT engines")
    kernel = KERNELS[spec.num_levels]
    constants = spec.kernel_constants(channels)
    keyword = "constexprs" if "constexprs" in inspect.signature(triton.compiler.ASTSource).parameters else "constants"
    source = triton.compiler.ASTSource(fn=kernel, signature=_signature(kernel, constants, dtype),
                                       **{keyword: constants})  # Triton 3.2 calls it `constants`
    compiled = triton.compile(source, target=parse_target(target))
    return CompiledKernel(compiled.metadata.name, compiled.asm["ptx"], compiled.metadata.num_warps,
                          compiled.metadata.shared)


def compile_ptx(num_levels: int, mode: RoIMode | str, dtype: str, target: str) -> str:
    """PTX of the kernel for a pyramid of ``num_levels`` (torchvision's strides from 4), ``mode``
    align or pool, ``dtype`` fp32 or fp16, for ``target`` like 'sm_87'."""
    spec = RoIAlignSpec(DEFAULT_STRIDES[:num_levels], mode=RoIMode(mode))
    return compile_kernel(spec, dtype, target).ptx


def ptx_isa(ptx: str) -> tuple[int, int]:
    match = re.search(r"^\s*\.version\s+(\d+)\.(\d+)", ptx, re.MULTILINE)
    if not match:
        raise ValueError("no .version directive in this PTX")
    return int(match.group(1)), int(match.group(2))


def check_driver(ptx: str, driver_version: int) -> None:
    """Refuse a CUDA driver too old to load this PTX; ``driver_version`` as cudaDriverGetVersion
    reports it (12040 = CUDA 12.4)."""
    isa = ptx_isa(ptx)
    known = [v for v in PTX_ISA_CUDA if v <= isa]
    need = PTX_ISA_CUDA[max(known)] if known else (0, 0)
    have = (driver_version // 1000, (driver_version % 1000) // 10)
    if have < need:
        raise EdgedetError(f"the CUDA driver supports CUDA {have[0]}.{have[1]}, but this Triton writes PTX ISA "
                           f"{isa[0]}.{isa[1]}, which needs CUDA {need[0]}.{need[1]}: update the NVIDIA driver, or "
                           f"install an older Triton (tested: {TRITON_TESTED})")
