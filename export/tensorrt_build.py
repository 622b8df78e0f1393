"""ONNX -> TensorRT engine as a chain of Polygraphy loaders (NVIDIA's maintained wrapper around the
TensorRT builder), plus what is ours: the plugin registration, the file TensorRT parses, the
manifest and the refusals.

The chain (``build_plan``): ``NetworkFromOnnxBytes`` over :func:`plugin_graph`'s bytes ->
``CreateConfig`` (FP16/INT8 flags, one optimisation profile for dynamic-batch files, an entropy
``Calibrator`` fed letterboxed canvases exactly as the runtime makes them, the workspace limit,
a timing cache) -> ``EngineBytesFromNetwork``. Polygraphy's loaders are lazy, so the chain is built
and checked without TensorRT (tests do); only calling it needs TensorRT and a GPU. TensorRT is
imported lazily, with one clear line where it is missing or there is no GPU.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgedet.export.calibration import calibration_batches, check_calibration_set, read_cache
from edgedet.export.roi_spec import DOMAIN, OP_TYPE, PLUGIN_ID, RoIAlignSpec
from edgedet.runtime import atomic
from edgedet.runtime.engine_manifest import EngineManifest, write_manifest
from edgedet.runtime.errors import EdgedetError
from edgedet.runtime.hashing import sha256_file
from edgedet.runtime.install_hints import missing
from edgedet.runtime.model_files import require_model_file
from edgedet.runtime.model_metadata import ModelMetadata


@dataclass(frozen=True)
class BuildOptions:
    fp16: bool = False
    int8: bool = False
    calib: str | None = None
    calib_cache: str | None = None
    batch: tuple[int, int, int] | None = None  # min, opt, max for dynamic-batch files
    workspace_gib: float = 4.0
    timing_cache: str | None = None


@dataclass
class BuildPlan:
    """The Polygraphy loader chain for one engine, and what the manifest records about it."""

    network: Any  # polygraphy NetworkFromOnnxBytes
    config: Any  # polygraphy CreateConfig
    engine: Any  # polygraphy EngineBytesFromNetwork: call it to build
    profiles: list[dict]
    precision: str
    calibrator: Any = None


def parse_batch_range(text: str | None) -> tuple[int, int, int] | None:
    """'MIN:OPT:MAX' -> (min, opt, max), 1 <= min <= opt <= max."""
    if not text:
        return None
    try:
        values = tuple(int(v) for v in text.split(":"))
    except ValueError:
        values = ()
    if len(values) != 3 or not 1 <= values[0] <= values[1] <= values[2]:
        raise ValueError(f"'{text}' is not MIN:OPT:MAX with 1 <= MIN <= OPT <= MAX (e.g. 1:4:8)")
    return values


def check_precision_support(tensorrt_version: str, opts: BuildOptions) -> None:
    """TensorRT 11 removed weak typing (``BuilderFlag.FP16``/``INT8``) and implicit INT8 calibration."""
    major = int(tensorrt_version.split(".")[0])
    if major >= 11 and (opts.fp16 or opts.int8):
        what = "INT8" if opts.int8 else "FP16"
        raise EdgedetError(f"{what} engines need TensorRT 10.x (TensorRT {tensorrt_version} removed "
                           "BuilderFlag.FP16/INT8 and calibrators): build fp32 here, or convert the ONNX file to "
                           "mixed precision / Q/DQ first")


def import_tensorrt():
    try:
        import tensorrt as trt
    except ImportError:
        raise missing("building an engine", "tensorrt", "on a machine with an NVIDIA GPU (on Jetson, JetPack's "
                      "TensorRT); the ONNX file runs without it") from None
    return trt


def onnx_facts(path: str | Path) -> tuple[ModelMetadata, RoIAlignSpec]:
    """The model metadata and the RoI node's spec (no weights loaded); a file that is not an edgedet
    ONNX model gets one line."""
    import onnx

    path = require_model_file(path, "ONNX file")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError and friends
        raise EdgedetError(f"'{path}' is not an ONNX model ({type(exc).__name__}): give an .onnx file from "
                           "'edgedet export'") from None
    meta = ModelMetadata.from_props({p.key: p.value for p in model.metadata_props}, source=f"'{path}'")
    nodes = [n for n in model.graph.node if n.domain == DOMAIN and n.op_type == OP_TYPE]
    if not nodes:
        raise EdgedetError(f"'{path}' has no {DOMAIN}::{OP_TYPE} node (exported with inlined functions?): "
                           "build from the default export")
    spec = RoIAlignSpec.from_attributes({a.name: onnx.helper.get_attribute_value(a) for a in nodes[0].attribute})
    return meta, spec


def plugin_graph(path: str | Path) -> bytes:
    """The file as TensorRT should parse it: without the model-local MultiLevelRoIAlign function.

    Why: before TensorRT 10.15 the ONNX parser imports a node through its local function
    whenever the file has one; dropping the function makes every TensorRT 10 and 11 fall back to
    the plugin registry (matching op name, ``plugin_version`` and ``plugin_namespace``) and leaves
    the node, its attributes and the rest of the graph untouched.
    """
    import onnx

    model = onnx.load(str(path))
    keep = [f for f in model.functions if not (f.domain == DOMAIN and f.name == OP_TYPE)]
    del model.functions[:]
    model.functions.extend(keep)
    return model.SerializeToString()


def calibration_feed(folder: str | None, canvas: tuple[int, int], batch: int, fill: int) -> Iterator[dict]:
    """What Polygraphy's ``Calibrator`` reads: feed dicts of letterboxed canvas batches (none when
    only a cache is given)."""
    if folder:
        for data in calibration_batches(folder, canvas, batch, fill):
            yield {"images": data}


def build_plan(onnx_path: str | Path, meta: ModelMetadata, opts: BuildOptions,
               memory_pool_limits: dict | None = None) -> BuildPlan:
    """The loader chain for this file and these options; nothing runs until ``plan.engine()``.

    Everything but INT8 is assembled without TensorRT (Polygraphy's ``Calibrator`` subclasses a
    TensorRT class, so an INT8 plan needs TensorRT installed)."""
    from polygraphy.backend.trt import CreateConfig, EngineBytesFromNetwork, NetworkFromOnnxBytes, Profile

    h, w = meta.canvas
    profiles, trt_profiles, calib_batch = [], [], meta.batch
    if meta.batch is None:
        lo, mid, hi = opts.batch or (1, 1, 1)
        trt_profiles.append(Profile().add("images", (lo, h, w, 3), (mid, h, w, 3), (hi, h, w, 3)))
        profiles.append({"images": {"min": [lo, h, w, 3], "opt": [mid, h, w, 3], "max": [hi, h, w, 3]}})
        calib_batch = mid
    else:
        shape = [meta.batch, h, w, 3]
        profiles.append({"images": {"min": shape, "opt": shape, "max": shape}})
    calibrator = None
    if opts.int8:
        from polygraphy.backend.trt import Calibrator

        feed = calibration_feed(opts.calib, meta.canvas, calib_batch, meta.letterbox_fill)
        calibrator = Calibrator(feed, cache=opts.calib_cache, batch_size=calib_batch)
    config = CreateConfig(fp16=opts.fp16 or None, int8=opts.int8 or None, calibrator=calibrator,
                          profiles=trt_profiles or None, memory_pool_limits=memory_pool_limits,
                          load_timing_cache=opts.timing_cache)
    network = NetworkFromOnnxBytes(plugin_graph(onnx_path))
    engine = EngineBytesFromNetwork(network, config=config, save_timing_cache=opts.timing_cache)
    precision = "int8" if opts.int8 else "fp16" if opts.fp16 else "fp32"
    return BuildPlan(network, config, engine, profiles, precision, calibrator)


def build_engine(onnx_path: str | Path, out: str | Path, opts: BuildOptions) -> EngineManifest:
    onnx_path, out = Path(onnx_path), Path(out)
    meta, spec = onnx_facts(onnx_path)
    if opts.int8 and not (opts.calib or read_cache(opts.calib_cache)):
        raise EdgedetError("INT8 needs a folder of calibration images or an existing calibration cache")
    if opts.int8 and opts.calib and not read_cache(opts.calib_cache):
        check_calibration_set(opts.calib, meta.batch or (opts.batch or (1, 1, 1))[1])
    trt = import_tensorrt()
    from edgedet.export.plugins.ptx import check_driver, compile_kernel
    from edgedet.export.plugins.trt_plugin import check_tensorrt_version, register
    from edgedet.runtime.cuda_memory import driver_version, gpu_info

    check_tensorrt_version(trt.__version__)
    check_precision_support(trt.__version__, opts)

    gpu_name, capability = gpu_info()
    target = "sm_" + capability.replace(".", "")
    check_driver(compile_kernel(spec, "fp32", target).ptx, driver_version())  # before TensorRT fails at enqueue
    register(spec.num_levels, target)
    plan = build_plan(onnx_path, meta, opts,
                      memory_pool_limits={trt.MemoryPoolType.WORKSPACE: int(opts.workspace_gib * (1 << 30))})
    from polygraphy.exception import PolygraphyException

    try:
        engine = plan.engine()
    except PolygraphyException as exc:
        raise EdgedetError(f"TensorRT could not build an engine from '{onnx_path}': {exc}") from None
    finally:
        if plan.calibrator is not None:
            plan.calibrator.free()
    atomic.write_bytes(out, bytes(engine))
    calib_sha = sha256_file(opts.calib_cache) if opts.calib_cache and Path(opts.calib_cache).is_file() else None
    manifest = EngineManifest(
        tensorrt_version=trt.__version__, gpu_name=gpu_name, compute_capability=capability,
        precision=plan.precision, profiles=plan.profiles, onnx_sha256=sha256_file(onnx_path), model=meta.to_props(),
        calibration_cache_sha256=calib_sha, plugin={"id": PLUGIN_ID, "levels": spec.num_levels,
                                                    "fields": spec.node_attributes(), "options": asdict(opts)})
    write_manifest(out, manifest)
    return manifest
