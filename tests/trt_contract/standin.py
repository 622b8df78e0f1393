"""A STAND-IN for TensorRT's compiled core (``tensorrt.so``), labelled as such: just enough of its
Python surface for NVIDIA's real, pure-Python ``tensorrt/plugin`` package (shipped in the
``tensorrt-cu12-bindings`` wheels) to register, create and drive a plugin the way the ONNX parser
and the builder do. Shape expressions are evaluated to numbers.

What it proves: registration passes TensorRT's own validators; the fields, encoded as the ONNX
parser encodes them, are decoded by TensorRT's own code into values our plugin accepts; output
types and shapes, format combinations, tactics, launch parameters, extra arguments and the
kernel's PTX come out as TensorRT would ask for them. What it does not: build an engine or run a
kernel (that needs the real library and a GPU; see the ``tensorrt`` and ``gpu`` tests).
"""

from __future__ import annotations

import enum
import types

import numpy as np


def _enum(name: str, members: str) -> type[enum.Enum]:
    return enum.Enum(name, [(m, i) for i, m in enumerate(members.split())])


class _Base:
    """Every core base class the plugin package subclasses: constructible, nothing else."""

    def __init__(self, *args, **kwargs) -> None:
        pass


class IDimensionExpr:
    """A dimension expression, evaluated: every expression here is a known number."""

    def __init__(self, value: int) -> None:
        self.value = int(value)

    def is_constant(self) -> bool:
        return True

    def get_constant_value(self) -> int:
        return self.value

    def __repr__(self) -> str:
        return f"IDimensionExpr({self.value})"


def build(version: str) -> types.ModuleType:
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    trt.__path__ = []  # a package, so ``tensorrt.plugin`` can be attached
    trt.STANDIN = True

    class Logger(_Base):
        INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = range(5)

        def log(self, severity, message) -> None:
            pass

    trt.Logger = Logger
    trt.PluginFieldType = _enum("PluginFieldType", "FLOAT16 FLOAT32 FLOAT64 INT8 INT16 INT32 CHAR DIMS UNKNOWN "
                                                   "BF16 INT64 FP8 INT4 FP4")
    trt.DataType = _enum("DataType", "FLOAT HALF INT8 INT32 BOOL UINT8 FP8 BF16 INT64 INT4 FP4 E8M0")
    trt.TensorFormat = _enum("TensorFormat", "LINEAR CHW2 HWC8 CHW4 CHW16 CHW32 DHWC8 CDHW32 HWC DLA_LINEAR "
                                             "DLA_HWC4 HWC16 DHWC")
    trt.TensorRTPhase = _enum("TensorRTPhase", "BUILD RUNTIME")
    trt.QuickPluginCreationRequest = _enum("QuickPluginCreationRequest",
                                           "UNKNOWN PREFER_JIT PREFER_AOT STRICT_JIT STRICT_AOT")
    trt.DimensionOperation = _enum("DimensionOperation", "SUM PROD MAX MIN SUB EQUAL LESS FLOOR_DIV CEIL_DIV")
    trt.PluginArgType = _enum("PluginArgType", "INT")
    trt.PluginArgDataType = _enum("PluginArgDataType", "INT8 INT16 INT32")
    dt = trt.DataType
    trt.float32, trt.float16, trt.int8, trt.int32, trt.int64 = dt.FLOAT, dt.HALF, dt.INT8, dt.INT32, dt.INT64
    trt.bool, trt.uint8, trt.bfloat16, trt.fp8, trt.int4 = dt.BOOL, dt.UINT8, dt.BF16, dt.FP8, dt.INT4
    numpy_types = {dt.FLOAT: np.float32, dt.HALF: np.float16, dt.INT8: np.int8, dt.INT32: np.int32,
                   dt.INT64: np.int64, dt.BOOL: np.bool_, dt.UINT8: np.uint8}
    trt.nptype = lambda t: numpy_types[t]

    for name in ("IPluginV3", "IPluginV3QuickCore", "IPluginV3QuickBuild", "IPluginV3QuickRuntime",
                 "IPluginV3QuickAOTBuild", "IPluginCreatorV3Quick", "IPluginCreatorV3One", "ISymExpr",
                 "IExprBuilder", "ITensor", "IPluginV2", "IPluginV3OneCore", "IPluginV3OneBuild",
                 "IPluginV3OneRuntime", "IPluginResourceContext", "INetworkDefinition"):
        setattr(trt, name, type(name, (_Base,), {}))
    trt.IDimensionExpr = IDimensionExpr

    class Dims(list):
        MAX_DIMS = 8

        def __init__(self, dims=()) -> None:
            super().__init__([0] * dims if isinstance(dims, int) else dims)

    class DimsExprs(list):
        def __init__(self, n=0) -> None:
            super().__init__([None] * n if isinstance(n, int) else n)

    class PluginField:
        def __init__(self, name: str = "", data=None, type=None) -> None:  # noqa: A002  (TensorRT's name)
            self.name, self.data, self.type = name, data, type

    class PluginTensorDesc(_Base):
        def __init__(self) -> None:
            self.type, self.format, self.scale, self.dims = trt.DataType.FLOAT, trt.TensorFormat.LINEAR, 1.0, Dims()

    class DynamicPluginTensorDesc(_Base):
        def __init__(self, desc=None, min=None, max=None, opt=None) -> None:  # noqa: A002
            self.desc = desc or PluginTensorDesc()
            self.min, self.max, self.opt = min, max, opt

    class Registry:
        def __init__(self) -> None:
            self.creators: dict[tuple[str, str, str], object] = {}

        def register_creator(self, creator, namespace: str = "") -> bool:
            self.creators[(creator.name, str(creator.plugin_version), namespace)] = creator
            return True

        def get_creator(self, name: str, version: str, namespace: str = ""):
            return self.creators.get((name, str(version), namespace))

        @property
        def all_creators(self):
            return list(self.creators.values())

    registry = Registry()
    trt.Dims, trt.DimsExprs, trt.PluginField = Dims, DimsExprs, PluginField
    trt.PluginFieldCollection = list
    trt.PluginTensorDesc, trt.DynamicPluginTensorDesc = PluginTensorDesc, DynamicPluginTensorDesc
    trt.get_plugin_registry = lambda: registry
    return trt


class ExprBuilder:
    """``trt.IExprBuilder`` over numbers."""

    def __init__(self, trt: types.ModuleType) -> None:
        ops = trt.DimensionOperation
        self.ops = {ops.SUM: lambda a, b: a + b, ops.PROD: lambda a, b: a * b, ops.MAX: max, ops.MIN: min,
                    ops.SUB: lambda a, b: a - b, ops.EQUAL: lambda a, b: int(a == b),
                    ops.LESS: lambda a, b: int(a < b), ops.FLOOR_DIV: lambda a, b: a // b,
                    ops.CEIL_DIV: lambda a, b: -(-a // b)}

    def constant(self, value: int) -> IDimensionExpr:
        return IDimensionExpr(value)

    def operation(self, op, a: IDimensionExpr, b: IDimensionExpr) -> IDimensionExpr:
        return IDimensionExpr(self.ops[op](a.get_constant_value(), b.get_constant_value()))


class LaunchParams:
    """``trt.KernelLaunchParams`` as the builder passes it in: attributes TensorRT fills."""


class SymExprSetter(dict):
    """``trt.ISymExprs``: ``nbSymExprs`` and item assignment."""

    nbSymExprs = 0
