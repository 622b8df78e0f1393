"""The OpenVINO backend: our ``.onnx`` file on Intel/AMD/ARM CPUs through OpenVINO's CPU plugin.

Two facts shape it (both measured on this project's files): OpenVINO's ONNX frontend ignores
model-local functions, so the ``MultiLevelRoIAlign`` node is inlined into its standard-ONNX body
in memory first (``onnx.inliner``; the ``openvino`` extra brings ``onnx``, and this is the one
runtime module allowed to import it); and on CPUs with native bf16 the CPU plugin silently runs
bf16 unless told otherwise, so f32 is asked for explicitly (``INFERENCE_PRECISION_HINT``) and bf16
only when requested. With f32 the detections equal onnxruntime's.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from edgedet.runtime.detector import BackendInfo, Detector, Precision
from edgedet.runtime.errors import EdgedetError
from edgedet.runtime.install_hints import missing
from edgedet.runtime.model_files import require_model_file
from edgedet.runtime.model_metadata import ModelMetadata, require_precision
from edgedet.runtime.openvino_cache import cache_root, cached_model

# What OpenVINO computes the float part in; an int8 file's quantized convolutions run int8 either way.
_HINTS = {Precision.fp32: "f32", Precision.bf16: "bf16", Precision.int8: "f32"}


def inlined_model_bytes(path: Path) -> tuple[bytes, dict[str, str]]:
    """The file with its local functions inlined, serialised, and its metadata props."""
    try:
        import onnx
        import onnx.inliner
    except ImportError:
        raise missing("the OpenVINO backend", "onnx") from None
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf's DecodeError and friends
        raise EdgedetError(f"'{path}' is not an ONNX model ({type(exc).__name__})") from None
    props = {p.key: p.value for p in model.metadata_props}
    return onnx.inliner.inline_local_functions(model).SerializeToString(), props


class OpenVinoDetector(Detector):
    concurrent = True  # one infer request per calling thread, of the one compiled model

    def __init__(self, path: str | Path, precision: Precision | str = Precision.fp32, threads: int | None = None,
                 device: str = "CPU", streams: int = 1, cache: Path | bool | None = None) -> None:
        """``streams``: infer requests the compiled model runs at once (OpenVINO's ``NUM_STREAMS``), for the
        engine's ``parallel`` batches; ``threads`` is then each stream's. One stream runs its requests one
        after another (measured: two cameras on two one-thread requests of one stream served 29 fps where
        one camera alone got 25). ``cache``: a folder for ``openvino_cache`` entries, False for none, None
        for the default (``openvino_cache.cache_root``)."""
        try:
            import openvino as ov
        except ImportError:
            raise missing("the OpenVINO backend", "openvino") from None
        self.path = require_model_file(path)
        self.precision = Precision(precision)
        core = ov.Core()
        config: dict = {"INFERENCE_PRECISION_HINT": _HINTS[self.precision], "NUM_STREAMS": int(streams)}
        if threads:
            config["INFERENCE_NUM_THREADS"] = int(threads) * int(streams)
        root = cache_root() if cache is None or cache is True else (Path(cache) if cache else None)
        try:
            if root is not None:
                try:
                    entry = cached_model(self.path, root, lambda: self._convert(core))
                except OSError:  # the cache folder is not writable: start without it
                    root = None
            if root is None:
                model, props = self._convert(core)
            else:
                model, props, config["CACHE_DIR"] = str(entry.ir), entry.props, str(entry.folder)
            self.adopt(ModelMetadata.from_props(props, source=f"'{path}'"), str(self.path))
            require_precision(self.meta, self.precision, self.path)
            self._compiled = core.compile_model(model, device, config)
        except RuntimeError as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
            raise EdgedetError(f"OpenVINO cannot load '{path}': {first}") from None
        self._requests = threading.local()
        self._outputs = [(o, o.get_any_name()) for o in self._compiled.outputs]
        self.device = device

    def _convert(self, core) -> tuple[object, dict[str, str]]:
        """The ONNX file as an OpenVINO model (local functions inlined: its reader needs that) and its
        metadata."""
        data, props = inlined_model_bytes(self.path)
        return core.read_model(model=data), props

    def _infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        request = getattr(self._requests, "request", None)
        if request is None:
            request = self._requests.request = self._compiled.create_infer_request()
        result = request.infer({0: batch})
        return {name: np.array(result[port]) for port, name in self._outputs}

    def describe(self) -> BackendInfo:
        precision = self.precision.value
        if self.meta.precision == Precision.int8.value:
            precision = "int8+bf16" if self.precision is Precision.bf16 else "int8"
        return BackendInfo(str(self.path), self.meta.architecture, "openvino", self.device, precision)

    def _close(self) -> None:
        self._requests = threading.local()
        self._compiled = None
