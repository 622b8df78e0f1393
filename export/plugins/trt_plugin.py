"""The TensorRT plugin ``edgedet::MultiLevelRoIAlign`` around the Triton kernel, through
``tensorrt.plugin`` (TensorRT >= 10.9 quickly deployable plugins, ahead-of-time path).

``register(num_levels, target)`` declares the plugin (``trtp.register``: inputs, fields, output shape)
and its AOT implementation (``trtp.aot_impl``: the Triton kernel compiled to PTX, its launch
grid and its integer arguments as symbolic shape expressions). The PTX is embedded in the
engine, so the built plan runs in any TensorRT runtime without Python (trtexec, Triton
Inference Server, C++). The kernel's parameter order is TensorRT's AOT convention: input
pointers, extra int arguments, output pointer (Triton >= 3.3 appends its scratch pointers after
those, as in NVIDIA's own Triton AOT sample). The kernel is compiled for the build GPU's
architecture by :mod:`edgedet.export.plugins.ptx`, without torch.

The fields are exactly the ONNX node's attributes (``PLUGIN_FIELDS``; a test checks them
against the exporter), minus ``plugin_namespace``/``plugin_version``, which the ONNX parser
consumes to find the plugin. Their types are what the ONNX parser hands over: its plugin
importer copies an INT attribute as a one-element INT32 array, FLOAT as FLOAT32, STRING as
NUL-terminated CHAR and INTS as an INT32 array, so the numbers are annotated as INT32/FLOAT32
arrays (see ``_FIELD_TYPES``).

TensorRT calls the functions positionally (``aot_impl(*input_descs, *field_values, outputs,
tactic)``) and checks their signatures when they are registered (names in order, and a
return annotation on ``aot_impl``), so the signatures are built explicitly by
:func:`plugin_signatures`, which a test checks without TensorRT. TensorRT is imported lazily:
nothing here loads without it.
"""

from __future__ import annotations

import inspect
import re

import numpy as np
import numpy.typing as npt

from edgedet.export.plugins.ptx import compile_kernel
from edgedet.export.roi_spec import ATTRIBUTE_KINDS, PARSER_ONLY_ATTRIBUTES, PLUGIN_ID, RoIAlignSpec
from edgedet.runtime.errors import EdgedetError
from edgedet.runtime.install_hints import install_line, missing

# What the ONNX parser hands over for each attribute kind: an INT attribute as a one-element INT32
# array, FLOAT as FLOAT32, INTS as INT32, STRING as NUL-terminated CHAR. Declaring the numbers as
# arrays of exactly those types keeps tensorrt.plugin from converting them with int(array) /
# float(array), which NumPy >= 2.4 refuses (TensorRT 10.x's _lib.py does that; 11.x takes
# data[0]); RoIAlignSpec.from_attributes reads the arrays and strips the NUL.
_FIELD_TYPES = {"int": npt.NDArray[np.int32], "float": npt.NDArray[np.float32], "ints": npt.NDArray[np.int32],
                "string": str}
PLUGIN_FIELDS: dict[str, type] = {name: _FIELD_TYPES[kind] for name, kind in ATTRIBUTE_KINDS.items()
                                  if name not in PARSER_ONLY_ATTRIBUTES}
MIN_TENSORRT = (10, 9)  # tensorrt.plugin's AOT API (aot_impl, KernelLaunchParams, SymIntExprs)
_registered: set[int] = set()


def check_tensorrt_version(version: str) -> None:
    """AOT Python plugins first ship in TensorRT 10.9 (10.7 and 10.8 have tensorrt.plugin without them)."""
    parts = tuple(int(p) for p in re.findall(r"\d+", version)[:2])
    if parts < MIN_TENSORRT:
        raise EdgedetError(f"TensorRT {version} has no ahead-of-time Python plugins (they arrived in 10.9): "
                           f"install tensorrt>=10.9 ({install_line('tensorrt')}), or run the ONNX file with "
                           "onnxruntime")


def import_tensorrt_plugin():
    try:
        import tensorrt as trt
        import tensorrt.plugin as trtp
    except ImportError:
        raise missing("the RoI Align plugin", "tensorrt", "(TensorRT >= 10.9 with tensorrt.plugin), on a machine "
                      "with an NVIDIA GPU") from None
    check_tensorrt_version(trt.__version__)
    return trtp


def plugin_signatures(num_levels: int, trtp) -> dict[str, inspect.Signature]:
    """The register/autotune/aot_impl signatures TensorRT validates, for a pyramid of ``num_levels``.

    Inputs come first (``rois``, ``f0``..), then every field in ``PLUGIN_FIELDS`` order, then
    ``outputs`` (and ``tactic`` for aot_impl), all positional-or-keyword without defaults.
    ``trtp`` is ``tensorrt.plugin`` (its TensorDesc, AutoTuneCombination, KernelLaunchParams
    and SymIntExprs classes annotate the signatures).
    """
    pos = inspect.Parameter.POSITIONAL_OR_KEYWORD
    desc = trtp.TensorDesc
    inputs = [inspect.Parameter(n, pos, annotation=desc) for n in ["rois"] + [f"f{i}" for i in range(num_levels)]]
    fields = [inspect.Parameter(n, pos, annotation=t) for n, t in PLUGIN_FIELDS.items()]
    outputs = inspect.Parameter("outputs", pos, annotation=tuple[desc])
    return {
        "register": inspect.Signature(inputs + fields, return_annotation=desc),
        "autotune": inspect.Signature(inputs + [outputs], return_annotation=list[trtp.AutoTuneCombination]),
        "aot_impl": inspect.Signature(
            inputs + fields + [outputs, inspect.Parameter("tactic", pos, annotation=int)],
            return_annotation=tuple[str | bytes, str | bytes, trtp.KernelLaunchParams, trtp.SymIntExprs]),
    }


def type_combinations(num_levels: int) -> str:
    """Autotune types: RoIs stay fp32 (canvas coordinates need more than fp16's 11 bits); the
    levels and the output are fp32 or fp16 together."""
    return ", ".join(["FP32"] + ["FP32|FP16"] * (num_levels + 1))


def _with_signature(fn, sig: inspect.Signature):
    fn.__signature__ = sig
    fn.__annotations__ = {p.name: p.annotation for p in sig.parameters.values()} | {"return": sig.return_annotation}
    return fn


def register(num_levels: int, target: str) -> None:
    """Register the plugin for a pyramid of ``num_levels`` levels, its kernel compiled for ``target``
    (the build GPU's architecture, e.g. 'sm_87'); once per process."""
    if num_levels in _registered:
        return
    if _registered:
        raise EdgedetError("one process builds engines for one pyramid depth; run edgedet build once per model")
    trtp = import_tensorrt_plugin()
    import tensorrt as trt

    sigs = plugin_signatures(num_levels, trtp)

    def split(sig: inspect.Signature, args, kwargs):
        """(rois, [feature descs], {field: value}) from however TensorRT passed them."""
        bound = sig.bind(*args, **kwargs).arguments
        return bound["rois"], [bound[f"f{i}"] for i in range(num_levels)], {k: bound.get(k) for k in PLUGIN_FIELDS}

    def describe(*args, **kwargs):
        rois, feats, fields = split(sigs["register"], args, kwargs)
        size = RoIAlignSpec.from_attributes(fields).output_size
        return trtp.from_shape_expr((rois.shape_expr[0], rois.shape_expr[1], feats[0].shape_expr[1], size, size),
                                    dtype=feats[0].dtype)

    def autotune(*args, **kwargs):
        return [trtp.AutoTuneCombination(type_combinations(num_levels), "LINEAR")]

    def aot(*args, **kwargs):
        rois, feats, fields = split(sigs["aot_impl"], args, kwargs)
        spec = RoIAlignSpec.from_attributes(fields)
        dtype = "fp16" if feats[0].dtype == trt.float16 else "fp32"
        compiled = compile_kernel(spec, dtype, target)
        launch = trtp.KernelLaunchParams()
        launch.grid_x = rois.shape_expr[0] * rois.shape_expr[1]
        launch.grid_y = trtp.cdiv(feats[0].shape_expr[1], spec.kernel_constants(256)["BLOCK_C"])
        launch.block_x = compiled.num_warps * 32
        launch.shared_mem = compiled.shared
        extra = [feats[0].shape_expr[1], rois.shape_expr[1]]  # C, R, then H, W of every level
        extra += [d for f in feats for d in (f.shape_expr[2], f.shape_expr[3])]
        return compiled.name, compiled.ptx, launch, trtp.SymIntExprs.from_tuple([trtp.SymInt32(e) for e in extra])

    trtp.register(PLUGIN_ID)(_with_signature(describe, sigs["register"]))
    trtp.autotune(PLUGIN_ID)(_with_signature(autotune, sigs["autotune"]))
    trtp.aot_impl(PLUGIN_ID)(_with_signature(aot, sigs["aot_impl"]))
    _registered.add(num_levels)
