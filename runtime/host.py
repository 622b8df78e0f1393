"""What the host is: the facts a latency figure needs next to it (and the CPU features that decide
which precisions are fast here: AVX-512, VNNI for int8, BF16 and AMX)."""

from __future__ import annotations

import os
import platform
from pathlib import Path

# feature -> the /proc/cpuinfo flags that show it (any of them)
CPU_FEATURES = {"avx2": ("avx2",), "avx512": ("avx512f",), "vnni": ("avx512_vnni", "avx_vnni"),
                "bf16": ("avx512_bf16", "amx_bf16"), "amx": ("amx_tile",), "neon": ("asimd", "neon")}


def cpu_features(cpuinfo: str | None = None) -> dict:
    """CPU model and features from /proc/cpuinfo (Linux); empty where it cannot be read."""
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        cpuinfo = path.read_text() if path.is_file() else ""
    flags: set[str] = set()
    model = platform.processor() or platform.machine()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("flags", "features") and not flags:
            flags = set(value.split())
        elif key in ("model name", "cpu model") and value.strip():
            model = value.strip()
    return {"model": model, **{name: any(f in flags for f in names) for name, names in CPU_FEATURES.items()}}


def host_info() -> dict:
    import onnxruntime

    return {"platform": platform.platform(), "machine": platform.machine(), "cpus": os.cpu_count(),
            "python": platform.python_version(), "onnxruntime": onnxruntime.__version__, "cpu": cpu_features()}
