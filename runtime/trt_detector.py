"""The TensorRT backend: a plain plan file plus its manifest, run without torch.

Buffers are allocated once for the largest batch of the engine's profile (device memory and
page-locked host memory), copies are asynchronous on one CUDA stream, and with
``cuda_graph=True`` a fixed-shape run is captured once and replayed. Calls used:
``trt.Runtime.deserialize_cuda_engine``, ``ICudaEngine.create_execution_context``,
``num_io_tensors``/``get_tensor_name``/``get_tensor_dtype``/``get_tensor_mode``,
``IExecutionContext.set_input_shape``/``set_tensor_address``/``execute_async_v3``, and
cuda-python's ``cudaMemcpyAsync``/``cudaStreamBeginCapture``/``cudaGraphLaunch``.
``close()`` frees the buffers, the graph executable, the stream, the context and the engine.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgedet.runtime.cuda_memory import DeviceBuffer, PinnedArray, check, cudart, gpu_info
from edgedet.runtime.detector import BackendInfo, Detector
from edgedet.runtime.engine_manifest import check_compatible, read_manifest
from edgedet.runtime.errors import EdgedetError
from edgedet.runtime.install_hints import missing
from edgedet.runtime.model_files import require_model_file
from edgedet.runtime.model_metadata import ModelMetadata


class TensorRTDetector(Detector):
    def __init__(self, path: str | Path, cuda_graph: bool = False) -> None:
        try:
            import tensorrt as trt
        except ImportError:
            raise missing("running an .engine file", "tensorrt") from None
        self.path = require_model_file(path, "engine file")
        self.manifest = read_manifest(path)
        self.gpu, capability = gpu_info()
        check_compatible(self.manifest, trt.__version__, capability, self.gpu, engine=f"'{path}'")
        self.adopt(ModelMetadata.from_props(self.manifest.model, source=f"'{path}'"), str(self.path))
        self.max_batch = self.manifest.profiles[0]["images"]["max"][0]
        self.rt = cudart()
        self.engine = trt.Runtime(trt.Logger(trt.Logger.WARNING)).deserialize_cuda_engine(self.path.read_bytes())
        if self.engine is None:
            raise EdgedetError(f"TensorRT could not deserialise '{path}'")
        self.context = self.engine.create_execution_context()
        self.stream = check(self.rt.cudaStreamCreate())
        self.host: dict[str, PinnedArray] = {}
        self.device: dict[str, DeviceBuffer] = {}
        self.outputs: list[str] = []
        for i in range(self.engine.num_io_tensors):
            name = self.engine.get_tensor_name(i)
            dtype = np.dtype(trt.nptype(self.engine.get_tensor_dtype(name)))
            shape = [self.max_batch if d < 0 else d for d in self.engine.get_tensor_shape(name)]
            self.host[name] = PinnedArray(tuple(shape), dtype)
            self.device[name] = DeviceBuffer(self.host[name].nbytes)
            self.context.set_tensor_address(name, int(self.device[name].ptr))
            if self.engine.get_tensor_mode(name) == trt.TensorIOMode.OUTPUT:
                self.outputs.append(name)
        self.cuda_graph = cuda_graph
        self._graph, self._graph_batch = None, None

    def input_buffer(self, n: int) -> np.ndarray:
        if n > self.max_batch:
            raise EdgedetError(f"{n} frames exceed the engine's maximum batch {self.max_batch}")
        return self.host["images"].array[:n]

    def _enqueue(self, n: int) -> None:
        h2d, d2h = self.rt.cudaMemcpyKind.cudaMemcpyHostToDevice, self.rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        img = self.host["images"]
        check(self.rt.cudaMemcpyAsync(self.device["images"].ptr, img.ptr, img.nbytes * n // self.max_batch, h2d,
                                      self.stream))
        if not self.context.execute_async_v3(self.stream):
            raise EdgedetError("TensorRT execution failed")
        for name in self.outputs:
            out = self.host[name]
            check(self.rt.cudaMemcpyAsync(out.ptr, self.device[name].ptr, out.nbytes * n // self.max_batch, d2h,
                                          self.stream))

    def _release_graph(self) -> None:
        if self._graph is not None:
            self.rt.cudaGraphExecDestroy(self._graph)
            self._graph, self._graph_batch = None, None

    def _capture(self, n: int) -> None:
        """Capture one enqueue of batch ``n`` as a CUDA graph (replacing the previous one). As trtexec
        does, one run after the shape change goes first, outside the capture, so TensorRT's lazy
        initialisation is not recorded; a failed enqueue ends the capture so the stream stays usable."""
        self._release_graph()
        self._enqueue(n)
        check(self.rt.cudaStreamSynchronize(self.stream))
        check(self.rt.cudaStreamBeginCapture(self.stream,
                                             self.rt.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal))
        try:
            self._enqueue(n)
        except BaseException:
            self.rt.cudaStreamEndCapture(self.stream)
            raise
        graph = check(self.rt.cudaStreamEndCapture(self.stream))
        try:
            self._graph, self._graph_batch = check(self.rt.cudaGraphInstantiate(graph, 0)), n
        finally:
            self.rt.cudaGraphDestroy(graph)

    def _infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        n = len(batch)
        if self.meta.batch is None:
            self.context.set_input_shape("images", (n, *self.canvas, 3))
        if self.cuda_graph:
            if self._graph_batch != n:
                self._capture(n)
            check(self.rt.cudaGraphLaunch(self._graph, self.stream))
        else:
            self._enqueue(n)
        check(self.rt.cudaStreamSynchronize(self.stream))
        return {name: self.host[name].array[:n].copy() for name in self.outputs}

    def describe(self) -> BackendInfo:
        return BackendInfo(str(self.path), self.meta.architecture, "tensorrt", self.gpu, self.manifest.precision)

    def _close(self) -> None:
        self._release_graph()
        for buf in (*self.host.values(), *self.device.values()):
            buf.free()
        self.host, self.device = {}, {}
        self.rt.cudaStreamDestroy(self.stream)
        self.stream = None
        self.context = None
        self.engine = None
