"""The TensorRT plugin ``edgedet::MultiLevelRoIAlign`` around the Triton kernel, through
``tensorrt.plugin`` (TensorRT >= 10.7 quickly deployable plugins, ahead-of-time path).

``register(num_levels)`` declares the plugin (``trtp.register``: inputs, fields, output shape)
and its AOT implementation (``trtp.aot_impl``: the Triton kernel compiled to PTX, its launch
grid and its integer arguments as symbolic shape expressions). The PTX is embedded in the
engine, so the built plan runs in any TensorRT runtime without Python (trtexec, Triton
Inference Server, C++). The kernel's parameter order is TensorRT's AOT convention: input
pointers, extra int arguments, output pointer.

The fields are exactly the ONNX node's attributes (``PLUGIN_FIELDS``; a test checks them
against the exporter), minus ``plugin_namespace``/``plugin_version``, which the ONNX parser
consumes to find the plugin. TensorRT is imported lazily: nothing here loads without it.
"""

from __future__ import annotations

import inspect

import numpy as np
import numpy.typing as npt

from export.plugins.roi_align_kernel import KERNELS, kernel_constants
from runtime.errors import EdgedetError

PLUGIN_ID = "edgedet::MultiLevelRoIAlign"
PARSER_ONLY_FIELDS = ("plugin_namespace", "plugin_version")
PLUGIN_FIELDS: dict[str, type] = {
    "output_height": int,
    "output_width": int,
    "sampling_ratio": int,
    "aligned": int,
    "canonical_scale": float,
    "canonical_level": int,
    "strides": npt.NDArray[np.int64],
    "level_eps": float,
    "mode": str,
}
_registered: set[int] = set()


def import_tensorrt_plugin():
    try:
        import tensorrt.plugin as trtp
    except ImportError:
        raise EdgedetError("TensorRT >= 10.7 with tensorrt.plugin is not installed: pip install 'edgedet[trt]' on a "
                           "machine with an NVIDIA GPU (JetPack 6.2+ on Jetson)") from None
    return trtp


def _signature(trtp, num_levels: int, extra: tuple[inspect.Parameter, ...] = ()) -> inspect.Signature:
    params = [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=trtp.TensorDesc)
              for n in ["rois"] + [f"f{i}" for i in range(num_levels)]]
    params += [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=t)
               for n, t in PLUGIN_FIELDS.items()]
    return inspect.Signature(params + list(extra))


def register(num_levels: int) -> None:
    """Register the plugin for a pyramid of ``num_levels`` levels (once per process)."""
    if num_levels in _registered:
        return
    if _registered:
        raise EdgedetError("one process builds engines for one pyramid depth; run edgedet build once per model")
    trtp = import_tensorrt_plugin()
    import triton

    desc_sig = _signature(trtp, num_levels)
    aot_sig = _signature(trtp, num_levels, (
        inspect.Parameter("outputs", inspect.Parameter.KEYWORD_ONLY),
        inspect.Parameter("tactic", inspect.Parameter.KEYWORD_ONLY, default=None)))

    def split(sig: inspect.Signature, args, kwargs):
        """Bind however TensorRT passes them: (rois, [feature descs], {field: value})."""
        bound = sig.bind(*args, **kwargs).arguments
        return bound["rois"], [bound[f"f{i}"] for i in range(num_levels)], {k: bound[k] for k in PLUGIN_FIELDS}

    def describe(*args, **kwargs):
        rois, feats, fields = split(desc_sig, args, kwargs)
        return trtp.from_shape_expr(
            (rois.shape_expr[0], rois.shape_expr[1], feats[0].shape_expr[1], fields["output_height"],
             fields["output_width"]), dtype=feats[0].dtype)

    def aot(*args, **kwargs):
        rois, feats, fields = split(aot_sig, args, kwargs)
        strides = [int(s) for s in fields["strides"]]
        consts = kernel_constants(strides, fields["output_height"], fields["sampling_ratio"], bool(fields["aligned"]),
                                  fields["canonical_scale"], fields["canonical_level"], fields["mode"], 256,
                                  level_eps=fields["level_eps"])
        dtype = "fp16" if str(feats[0].dtype).endswith("HALF") else "fp32"
        kernel = KERNELS[num_levels]
        names = list(inspect.signature(kernel.fn).parameters)
        signature = {n: (f"*{dtype}" if n == "rois_ptr" or n.startswith("f") or n == "out_ptr"
                         else "constexpr" if n in consts else "i32") for n in names}
        compiled = triton.compile(triton.compiler.ASTSource(fn=kernel, signature=signature, constexprs=consts))
        launch = trtp.KernelLaunchParams()
        launch.grid_x = rois.shape_expr[0] * rois.shape_expr[1]
        launch.grid_y = trtp.cdiv(feats[0].shape_expr[1], consts["BLOCK_C"])
        launch.block_x = compiled.metadata.num_warps * 32
        launch.shared_mem = compiled.metadata.shared
        extra = trtp.SymIntExprs(2 + 2 * num_levels)
        extra[0] = trtp.SymInt32(feats[0].shape_expr[1])  # C
        extra[1] = trtp.SymInt32(rois.shape_expr[1])  # R
        for i, f in enumerate(feats):
            extra[2 + 2 * i] = trtp.SymInt32(f.shape_expr[2])
            extra[3 + 2 * i] = trtp.SymInt32(f.shape_expr[3])
        return compiled.metadata.name, compiled.asm["ptx"], launch, extra

    describe.__signature__ = desc_sig.replace(return_annotation=trtp.TensorDesc)
    describe.__annotations__ = {**{p.name: p.annotation for p in desc_sig.parameters.values()},
                                "return": trtp.TensorDesc}
    aot.__signature__ = aot_sig
    trtp.register(PLUGIN_ID)(describe)
    trtp.aot_impl(PLUGIN_ID)(aot)
    _registered.add(num_levels)
