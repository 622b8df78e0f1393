"""A small graph builder over onnx_ir's ``Tape``, for the ONNX we write by hand (function bodies).

Values are objects and their names are generated, so a lowering reads like the math it
implements (``length = op.Sub(end, start)``) instead of wiring string names; constants are made
once per value and type. ``function()`` serialises the recorded nodes into a ``FunctionProto``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import onnx
import onnx_ir as ir
from onnx import helper
from onnx_ir import tape

FLOAT = ir.DataType.FLOAT
INT64 = ir.DataType.INT64
BOOL = ir.DataType.BOOL


class OnnxBuilder:
    """``op = OnnxBuilder("Prefix/")``; ``op.Add(a, b)``, ``op.Cast(x, to=FLOAT)``; ``op.ints([0])`` and
    ``op.floats(0.5)`` are constants (a list gives a 1-D tensor, a scalar a 0-D one)."""

    def __init__(self, node_prefix: str) -> None:
        self._tape = tape.Tape()
        self._prefix = node_prefix
        self._constants: dict[tuple, ir.Value] = {}
        self.inputs: list[ir.Value] = []

    def input(self, name: str) -> ir.Value:
        value = ir.Value(name=name)
        self.inputs.append(value)
        return value

    def __getattr__(self, op_type: str) -> Callable[..., ir.Value]:
        if not op_type[:1].isupper():
            raise AttributeError(op_type)

        def make(*inputs: ir.Value, **attributes: Any) -> ir.Value:
            return self._tape.op(op_type, list(inputs), attributes or None)

        return make

    def _constant(self, value: float | int | Sequence, dtype: type) -> ir.Value:
        key = (dtype, tuple(value) if isinstance(value, (list, tuple)) else value, isinstance(value, (list, tuple)))
        if key not in self._constants:
            array = np.array(list(value) if isinstance(value, (list, tuple)) else value, dtype=dtype)
            self._constants[key] = self._tape.op("Constant", [], {"value": ir.tensor(array)})
        return self._constants[key]

    def floats(self, value: float | Sequence[float]) -> ir.Value:
        return self._constant(value, np.float32)

    def ints(self, value: int | Sequence[int]) -> ir.Value:
        return self._constant(value, np.int64)

    def function(self, domain: str, name: str, outputs: Mapping[str, ir.Value], opset: int,
                 attributes: Sequence[str]) -> onnx.FunctionProto:
        """The recorded nodes as a model-local function; outputs named by ``outputs``' keys, other values
        ``v0, v1, ...``, nodes ``{prefix}{i}_{op}`` so profilers can attribute an inlined body to its op."""
        for out_name, value in outputs.items():
            value.name = out_name
        nodes = []
        for i, node in enumerate(self._tape.nodes):
            for j, out in enumerate(node.outputs):
                if out.name is None:
                    out.name = f"v{i}" if j == 0 else f"v{i}_{j}"
            node.name = f"{self._prefix}{i}_{node.op_type}"
            nodes.append(ir.serde.serialize_node(node))
        return helper.make_function(domain, name, [v.name for v in self.inputs], list(outputs), nodes,
                                    opset_imports=[helper.make_opsetid("", opset)], attributes=list(attributes))
