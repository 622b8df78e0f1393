"""Fold every ``Cast`` of a constant into a constant of the target type, before NNCF reads the graph.

Why: NNCF 3.4's ONNX pre-processing (``eliminate_nop_cast`` in ``nncf/onnx/graph/passes.py``) looks a
Cast's input up among value infos, graph inputs/outputs *and initializers*, then reads ``.type`` from
what it found; a ``TensorProto`` initializer has no ``.type``, so any model with ``Cast(initializer)``
ends in ``AttributeError: type`` inside ``nncf.quantize``. The minimal graph that triggers it is one
float initializer ``w`` and ``y = Add(x, Cast(w, to=FLOAT))`` (see ``tests/test_quantize_architectures.py``).
A Cast of a constant is dead weight in any case (the value is known when the file is written), so
folding it is correct for every consumer, not a workaround that changes results: the folded tensor
is ``numpy``'s ``astype`` of the same values, which is what ONNX's Cast specifies for the types an
exported detector casts between (float, int, bool).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper


def _constant_values(model: onnx.ModelProto) -> dict[str, onnx.TensorProto]:
    """Initializers and ``Constant`` nodes' tensors (``value`` attribute), by value name."""
    values = {t.name: t for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            attr = next((a for a in node.attribute if a.name == "value"), None)
            if attr is not None:
                values[node.output[0]] = attr.t
    return values


def fold_constant_casts(model: onnx.ModelProto) -> int:
    """Replace, in place, each top-level ``Cast`` whose input is a constant by an initializer of the
    cast values under the Cast's output name. Returns how many were folded. Graph outputs are left
    alone (an output must be produced by a node)."""
    constants = _constant_values(model)
    outputs = {o.name for o in model.graph.output}
    keep, folded = [], []
    for node in model.graph.node:
        source = constants.get(node.input[0]) if node.op_type == "Cast" and node.input else None
        if source is None or node.output[0] in outputs:
            keep.append(node)
            continue
        to = next(helper.get_attribute_value(a) for a in node.attribute if a.name == "to")
        values = numpy_helper.to_array(source).astype(helper.tensor_dtype_to_np_dtype(to))
        folded.append(numpy_helper.from_array(np.asarray(values), name=node.output[0]))
    if folded:
        del model.graph.node[:]
        model.graph.node.extend(keep)
        model.graph.initializer.extend(folded)
        _drop_unused_constants(model)
    return len(folded)


def _drop_unused_constants(model: onnx.ModelProto) -> None:
    """Initializers and ``Constant`` nodes that only the folded Casts read."""
    used = {name for node in model.graph.node for name in node.input} | {o.name for o in model.graph.output}
    nodes = [n for n in model.graph.node if n.op_type != "Constant" or n.output[0] in used]
    inits = [t for t in model.graph.initializer if t.name in used]
    del model.graph.node[:], model.graph.initializer[:]
    model.graph.node.extend(nodes)
    model.graph.initializer.extend(inits)
