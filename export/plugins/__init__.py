"""edgedet's MultiLevelRoIAlign kernel (Triton) and its TensorRT plugin registration."""

from edgedet.export.plugins.roi_align_kernel import multilevel_roi_align

__all__ = ["multilevel_roi_align"]
