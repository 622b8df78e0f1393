"""COCO mAP for any ``Detector`` (eager, ONNX Runtime, TensorRT) through pycocotools."""
