"""ONNX -> TensorRT engine, written against NVIDIA's documented Python API (TensorRT 10.x).

Calls used (see docs/tensorrt.md): ``trt.Builder``, ``Builder.create_network(0)`` (explicit
batch is the only mode in TensorRT 10), ``trt.OnnxParser.parse(bytes, path)`` on the graph of
:func:`plugin_graph`, ``IBuilderConfig.set_memory_pool_limit(MemoryPoolType.WORKSPACE)``,
``BuilderFlag.FP16`` / ``BuilderFlag.INT8`` with an ``IInt8EntropyCalibrator2``,
``create_optimization_profile`` + ``set_shape`` (+ ``set_calibration_profile``), timing caches
(``create_timing_cache`` / ``set_timing_cache`` / ``serialize``) and
``build_serialized_network``. TensorRT is imported lazily, with one clear line where it is
missing or there is no GPU.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from export.calibration import calibration_batches, read_cache, write_cache
from export.roi_align_function import DOMAIN, OP_TYPE
from runtime.engine_manifest import EngineManifest, write_manifest
from runtime.errors import EdgedetError
from runtime.hashing import sha256_file
from runtime.model_metadata import ModelMetadata


@dataclass(frozen=True)
class BuildOptions:
    fp16: bool = False
    int8: bool = False
    calib: str | None = None
    calib_cache: str | None = None
    batch: tuple[int, int, int] | None = None  # min, opt, max for dynamic-batch files
    workspace_gib: float = 4.0
    timing_cache: str | None = None


def parse_batch_range(text: str | None) -> tuple[int, int, int] | None:
    if not text:
        return None
    try:
        values = tuple(int(v) for v in text.split(":"))
    except ValueError:
        values = ()
    if len(values) != 3 or not 1 <= values[0] <= values[1] <= values[2]:
        raise EdgedetError(f"--batch '{text}' is not MIN:OPT:MAX with 1 <= MIN <= OPT <= MAX (e.g. 1:4:8)")
    return values


def check_precision_support(tensorrt_version: str, opts: BuildOptions) -> None:
    """TensorRT 11 removed weak typing (``BuilderFlag.FP16``/``INT8``) and implicit INT8 calibration."""
    major = int(tensorrt_version.split(".")[0])
    if major >= 11 and (opts.fp16 or opts.int8):
        flag = "--int8" if opts.int8 else "--fp16"
        raise EdgedetError(f"{flag} needs TensorRT 10.x (TensorRT {tensorrt_version} removed BuilderFlag.FP16/INT8 and "
                           "calibrators): build fp32 here, or convert the ONNX file to mixed precision / Q/DQ first")


def import_tensorrt():
    try:
        import tensorrt as trt
    except ImportError:
        raise EdgedetError("TensorRT is not installed: pip install 'edgedet[trt]' on a machine with an NVIDIA GPU "
                           "(on Jetson use the JetPack TensorRT); 'edgedet run model.onnx' works without it") from None
    return trt


def onnx_facts(path: str | Path) -> tuple[ModelMetadata, int, dict]:
    """The model metadata, the RoI node's pyramid depth and its attributes (no weights loaded)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    meta = ModelMetadata.from_props({p.key: p.value for p in model.metadata_props}, source=f"'{path}'")
    nodes = [n for n in model.graph.node if n.domain == DOMAIN and n.op_type == OP_TYPE]
    if not nodes:
        raise EdgedetError(f"'{path}' has no {DOMAIN}::{OP_TYPE} node (exported with --inline-functions?): "
                           "build from the default export")
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in nodes[0].attribute}
    attrs = {k: (v.decode() if isinstance(v, bytes) else list(v) if not isinstance(v, (int, float)) else v)
             for k, v in attrs.items()}
    return meta, len(nodes[0].input) - 1, attrs


def plugin_graph(path: str | Path) -> bytes:
    """The file as TensorRT should parse it: without the model-local MultiLevelRoIAlign function.

    Why: the ONNX parser imports a node through its local function whenever the file has one,
    and only falls back to the plugin registry (matching op name, ``plugin_version`` and
    ``plugin_namespace``, or the node's domain from 10.10) for ops it knows nothing about.
    ``OnnxParserFlag.ENABLE_PLUGIN_OVERRIDE`` reverses that order, but it is not in TensorRT
    10.14's API (it is in 10.16's); dropping the function works on every TensorRT 10 and 11
    and leaves the node, its attributes and the rest of the graph untouched.
    """
    import onnx

    model = onnx.load(str(path))
    keep = [f for f in model.functions if not (f.domain == DOMAIN and f.name == OP_TYPE)]
    del model.functions[:]
    model.functions.extend(keep)
    return model.SerializeToString()


def _calibrator(trt, folder: str, canvas: tuple[int, int], batch: int, cache: str | None, fill: int):
    from runtime.cuda_memory import DeviceBuffer, check, cudart

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            super().__init__()
            self.batches = calibration_batches(folder, canvas, batch, fill)
            self.device = DeviceBuffer(batch * canvas[0] * canvas[1] * 3)

        def get_batch_size(self) -> int:
            return batch

        def get_batch(self, names):
            data = next(self.batches, None)
            if data is None:
                return None
            rt = cudart()
            host = np.ascontiguousarray(data)
            check(rt.cudaMemcpy(self.device.ptr, host.ctypes.data, host.nbytes,
                                rt.cudaMemcpyKind.cudaMemcpyHostToDevice))
            return [int(self.device.ptr)]

        def read_calibration_cache(self):
            return read_cache(cache)

        def write_calibration_cache(self, data) -> None:
            if cache:
                write_cache(cache, bytes(data))

    return EntropyCalibrator()


def build_engine(onnx_path: str | Path, out: str | Path, opts: BuildOptions) -> EngineManifest:
    onnx_path, out = Path(onnx_path), Path(out)
    if not onnx_path.is_file():
        raise EdgedetError(f"ONNX file '{onnx_path}' does not exist")
    if opts.int8 and not (opts.calib or read_cache(opts.calib_cache)):
        raise EdgedetError("--int8 needs --calib DIR (images to calibrate on) or an existing --calib-cache FILE")
    meta, num_levels, roi_attrs = onnx_facts(onnx_path)
    trt = import_tensorrt()
    check_precision_support(trt.__version__, opts)
    from export.plugins.trt_plugin import register
    from runtime.cuda_memory import gpu_info

    gpu_name, capability = gpu_info()
    register(num_levels)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(plugin_graph(onnx_path), str(onnx_path)):
        first = parser.get_error(0).desc() if parser.num_errors else "unknown error"
        raise EdgedetError(f"TensorRT cannot parse '{onnx_path}': {first}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(opts.workspace_gib * (1 << 30)))
    h, w = meta.canvas
    profiles = []
    if meta.batch is None:
        lo, mid, hi = opts.batch or (1, 1, 1)
        profile = builder.create_optimization_profile()
        profile.set_shape("images", (lo, h, w, 3), (mid, h, w, 3), (hi, h, w, 3))
        config.add_optimization_profile(profile)
        profiles.append({"images": {"min": [lo, h, w, 3], "opt": [mid, h, w, 3], "max": [hi, h, w, 3]}})
    else:
        shape = [meta.batch, h, w, 3]
        profiles.append({"images": {"min": shape, "opt": shape, "max": shape}})
    precision = "fp32"
    if opts.fp16:
        config.set_flag(trt.BuilderFlag.FP16)
        precision = "fp16"
    if opts.int8:
        config.set_flag(trt.BuilderFlag.INT8)
        calib_batch = (opts.batch or (1, 1, 1))[1] if meta.batch is None else meta.batch
        config.int8_calibrator = _calibrator(trt, opts.calib, meta.canvas, calib_batch, opts.calib_cache,
                                             meta.letterbox_fill)
        if meta.batch is None:
            config.set_calibration_profile(profile)
        precision = "int8"
    if opts.timing_cache:
        cache = config.create_timing_cache(read_cache(opts.timing_cache) or b"")
        config.set_timing_cache(cache, ignore_mismatch=False)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise EdgedetError(f"TensorRT could not build an engine from '{onnx_path}' (see the log above)")
    if opts.timing_cache:
        write_cache(opts.timing_cache, bytes(config.get_timing_cache().serialize()))
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    with os.fdopen(fd, "wb") as fh:
        fh.write(bytes(plan))
    os.replace(tmp, out)
    calib_sha = sha256_file(opts.calib_cache) if opts.calib_cache and Path(opts.calib_cache).is_file() else None
    manifest = EngineManifest(
        tensorrt_version=trt.__version__, gpu_name=gpu_name, compute_capability=capability, precision=precision,
        profiles=profiles, onnx_sha256=sha256_file(onnx_path), model=meta.to_props(),
        calibration_cache_sha256=calib_sha, plugin={"id": f"{DOMAIN}::{OP_TYPE}", "levels": num_levels,
                                                    "fields": roi_attrs, "options": asdict(opts)})
    write_manifest(out, manifest)
    return manifest
