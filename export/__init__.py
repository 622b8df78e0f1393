"""torch -> ONNX (static deploy graph, custom RoI Align with a standard-ONNX function body,
metadata, parity) and ONNX -> TensorRT."""
