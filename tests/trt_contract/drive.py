"""Drive edgedet's TensorRT plugin through one TensorRT release's real ``tensorrt/plugin`` package
over the stand-in core, as the ONNX parser and the builder do; print what came out as JSON.

Usage: python -m tests.trt_contract.drive WHEEL_DIR VERSION MODE [--legacy-fields]
(WHEEL_DIR: an unpacked tensorrt-cu12-bindings wheel; MODE: align or pool; --legacy-fields declares
the numeric fields as int/float, as edgedet did before, to show what TensorRT then does with them.)
"""

from __future__ import annotations

import importlib.util
import json
import sys
import traceback
from pathlib import Path

import numpy as np
import numpy.typing as npt

from tests.trt_contract.standin import ExprBuilder, IDimensionExpr, LaunchParams, SymExprSetter, build

B, R, C, CANVAS = 2, 100, 64, 256
STRIDES = (4, 8, 16, 32)


def load_plugin_package(wheel_dir: Path, version: str):
    trt = build(version)
    sys.modules["tensorrt"] = trt
    pkg = wheel_dir / "tensorrt_bindings" / "plugin"
    spec = importlib.util.spec_from_file_location("tensorrt.plugin", pkg / "__init__.py",
                                                  submodule_search_locations=[str(pkg)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["tensorrt.plugin"] = module
    trt.plugin = module
    spec.loader.exec_module(module)
    return trt, module


def parser_fields(trt, spec) -> list:
    """The fields as onnx-tensorrt's plugin importer builds them from the node's attributes."""
    from edgedet.export.roi_spec import ATTRIBUTE_KINDS, PARSER_ONLY_ATTRIBUTES

    fields = []
    for name, value in spec.node_attributes().items():
        if name in PARSER_ONLY_ATTRIBUTES:
            continue
        kind = ATTRIBUTE_KINDS[name]
        if kind == "int":
            fields.append(trt.PluginField(name, np.array([value], np.int32), trt.PluginFieldType.INT32))
        elif kind == "float":
            fields.append(trt.PluginField(name, np.array([value], np.float32), trt.PluginFieldType.FLOAT32))
        elif kind == "ints":
            fields.append(trt.PluginField(name, np.array(value, np.int32), trt.PluginFieldType.INT32))
        else:  # STRING -> CHAR with the trailing NUL counted
            fields.append(trt.PluginField(name, np.frombuffer((value + "\0").encode(), np.int8),
                                          trt.PluginFieldType.CHAR))
    return fields


def desc(trt, dtype, dims):
    d = trt.DynamicPluginTensorDesc()
    d.desc.type, d.desc.format, d.desc.dims = dtype, trt.TensorFormat.LINEAR, trt.Dims(dims)
    d.min, d.max, d.opt = trt.Dims(dims), trt.Dims(dims), trt.Dims(dims)
    return d


def drive(wheel_dir: Path, version: str, mode: str, legacy_fields: bool) -> dict:
    trt, trtp = load_plugin_package(wheel_dir, version)
    from edgedet.export.plugins import trt_plugin
    from edgedet.export.plugins.ptx import compile_kernel
    from edgedet.export.roi_spec import ATTRIBUTE_KINDS, PARSER_ONLY_ATTRIBUTES, RoIAlignSpec, RoIMode

    if legacy_fields:
        old = {"int": int, "float": float, "ints": npt.NDArray[np.int32], "string": str}
        trt_plugin.PLUGIN_FIELDS = {n: old[k] for n, k in ATTRIBUTE_KINDS.items() if n not in PARSER_ONLY_ATTRIBUTES}
    out: dict = {"version": version, "mode": mode, "stand_in_core": trt.STANDIN}
    trt_plugin.register(len(STRIDES), "sm_87")
    creator = trt.get_plugin_registry().get_creator("MultiLevelRoIAlign", "1", "edgedet")
    out["registered"] = creator is not None
    spec = RoIAlignSpec(STRIDES, mode=RoIMode(mode))
    try:
        plugin = creator.create_plugin("MultiLevelRoIAlign", "edgedet", parser_fields(trt, spec),
                                       trt.TensorRTPhase.BUILD, trt.QuickPluginCreationRequest.STRICT_AOT)
    except Exception as exc:  # what TensorRT would report as "Could not create the plugin"
        out["create_error"] = f"{type(exc).__name__}: {exc}"
        out["create_traceback"] = traceback.format_exc(limit=3)
        return out
    out["decoded_mode"] = plugin.attrs["mode"]
    levels = [(CANVAS // s, CANVAS // s) for s in STRIDES]
    in_dims = [(B, R, 4)] + [(B, C, h, w) for h, w in levels]
    out["output_types"] = [t.name for t in plugin.get_output_data_types([trt.DataType.FLOAT] * 5, [3, 4, 4, 4, 4])]
    eb = ExprBuilder(trt)
    exprs = [trt.DimsExprs([IDimensionExpr(d) for d in dims]) for dims in in_dims]
    shapes = plugin.get_output_shapes(exprs, [], eb)
    out["output_shape"] = [e.get_constant_value() for e in shapes[0]]
    out_dims = tuple(out["output_shape"])
    probe = [desc(trt, trt.DataType.FLOAT, d) for d in in_dims] + [desc(trt, trt.DataType.FLOAT, out_dims)]
    combos = plugin.get_supported_format_combinations(probe, 5)
    out["combinations"] = sorted({tuple(c.type.name for c in combos[i:i + 6]) for i in range(0, len(combos), 6)})
    out["launch"] = {}
    for types in out["combinations"]:
        io = [desc(trt, getattr(trt.DataType, t), d) for t, d in zip(types, in_dims + [out_dims])]
        plugin.configure_plugin(io[:5], io[5:])
        tactics = plugin.get_valid_tactics()
        plugin.set_tactic(tactics[0] if tactics else 0)
        params, setter = LaunchParams(), SymExprSetter()
        plugin.get_launch_params(exprs, io, 5, params, setter, eb)
        name, ptx = plugin.get_kernel([d.desc for d in io[:5]], [io[5].desc])
        ptx = ptx.decode() if isinstance(ptx, bytes) else ptx
        dtype = "fp16" if types[1] == "HALF" else "fp32"
        expected = compile_kernel(RoIAlignSpec.from_attributes(plugin.attrs), dtype, "sm_87")
        out["launch"][dtype] = {
            "grid": [params.grid_x.expr.get_constant_value(), params.grid_y.expr.get_constant_value(),
                     params.grid_z.expr.get_constant_value()],
            "block_x": params.block_x.expr.get_constant_value(),
            "shared_mem": params.shared_mem.expr.get_constant_value(),
            "extra_args": [setter[i].expr.get_constant_value() for i in range(setter.nbSymExprs)],
            "kernel": name.decode() if isinstance(name, bytes) else name,
            "ptx_target_sm_87": ".target sm_87" in ptx,
            "ptx_is_the_specs_kernel": ptx == expected.ptx,
            "pool_kernel": RoIAlignSpec.from_attributes(plugin.attrs).kernel_constants(C)["POOL"],
            "block_c": RoIAlignSpec.from_attributes(plugin.attrs).kernel_constants(256)["BLOCK_C"],
            "expected_block_x": expected.num_warps * 32,
        }
    return out


if __name__ == "__main__":
    wheel, version, mode = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    print(json.dumps(drive(wheel, version, mode, "--legacy-fields" in sys.argv[4:])))
