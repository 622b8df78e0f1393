"""Training: letterboxed COCO data with augmentation, the four-loss Faster R-CNN loop."""
