"""Small builders for hand-written ONNX graph pieces (the RoI Align function body)."""

from __future__ import annotations

import onnx
from onnx import TensorProto, helper


def constant(name: str, value, dtype: int = TensorProto.FLOAT) -> onnx.NodeProto:
    """A ``Constant`` node: a list gives a 1-D tensor, a scalar a 0-D one."""
    values = value if isinstance(value, list) else [value]
    dims = [len(values)] if isinstance(value, list) else []
    return helper.make_node("Constant", [], [name], value=helper.make_tensor(name, dtype, dims, values))
