"""edgedet: Faster R-CNN from PyTorch to the edge (model side: architectures, data, training)."""

__version__ = "0.1.0"
