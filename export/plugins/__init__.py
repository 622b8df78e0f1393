"""edgedet's MultiLevelRoIAlign kernel (Triton), its AOT compile to PTX and its TensorRT plugin.

Nothing here imports torch at import time: the JIT launch (``multilevel_roi_align``) imports it
when called, the AOT compile (``compile_ptx``) never does."""

from edgedet.export.plugins.ptx import compile_ptx
from edgedet.export.plugins.roi_align_kernel import multilevel_roi_align

__all__ = ["compile_ptx", "multilevel_roi_align"]
