"""Thin helpers over the CUDA runtime API of NVIDIA's ``cuda-bindings``: device/pinned buffers, one stream,
checked calls.

Used by the TensorRT backend and the INT8 calibrator; imported lazily (``cuda-bindings`` ships with the
``trt`` and ``trt-cu12`` extras), never by the ONNX Runtime path.
"""

from __future__ import annotations

import ctypes

import numpy as np

from edgedet.runtime.errors import EdgedetError
from edgedet.runtime.install_hints import missing


def cudart():
    try:
        from cuda.bindings import runtime as rt
    except ImportError:
        raise missing("the TensorRT backend", "cuda") from None
    return rt


def check(result):
    """cuda-bindings returns (err, *values); raise on an error, return the values."""
    err, *values = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        raise EdgedetError(f"CUDA call failed: {err}")
    return values[0] if len(values) == 1 else tuple(values)


INSUFFICIENT_DRIVER = 35  # cudaErrorInsufficientDriver
NO_DEVICE = 100  # cudaErrorNoDevice


def driver_version() -> int:
    """The CUDA version the installed driver supports, as cudaDriverGetVersion says it (12040 = 12.4)."""
    return int(check(cudart().cudaDriverGetVersion()))


def gpu_info(device: int = 0) -> tuple[str, str]:
    """(name, compute capability 'major.minor'); one clear line where there is no usable GPU."""
    rt = cudart()
    err, count = rt.cudaGetDeviceCount()
    if int(err) == INSUFFICIENT_DRIVER:
        raise EdgedetError("the NVIDIA driver is older than the CUDA runtime cuda-bindings brings (CUDA 13 "
                           "bindings on a CUDA 12 driver?): install the '.[trt-cu12]' extra to match a CUDA 12 "
                           "driver, or update the driver")
    if int(err) not in (0, NO_DEVICE):
        raise EdgedetError(f"CUDA cannot list the GPUs ({err}): check the NVIDIA driver")
    if count == 0 or int(err) == NO_DEVICE:
        raise EdgedetError("no CUDA GPU found: TensorRT engines are built and run on an NVIDIA GPU")
    props = check(rt.cudaGetDeviceProperties(device))
    name = props.name.decode() if isinstance(props.name, bytes) else str(props.name)
    return name.strip("\x00 "), f"{props.major}.{props.minor}"


class PinnedArray:
    """A numpy array over page-locked host memory (fast, truly asynchronous copies)."""

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.rt = cudart()
        self.nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        self.ptr = check(self.rt.cudaMallocHost(self.nbytes))
        buf = (ctypes.c_byte * self.nbytes).from_address(int(self.ptr))
        self.array = np.frombuffer(buf, dtype=dtype).reshape(shape)

    def free(self) -> None:
        if self.ptr:
            self.rt.cudaFreeHost(self.ptr)
            self.ptr = 0


class DeviceBuffer:
    def __init__(self, nbytes: int) -> None:
        self.rt = cudart()
        self.nbytes = nbytes
        self.ptr = check(self.rt.cudaMalloc(max(1, nbytes)))

    def free(self) -> None:
        if self.ptr:
            self.rt.cudaFree(self.ptr)
            self.ptr = 0
