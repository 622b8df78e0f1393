"""Truncated SVD of the box head (Fast R-CNN §3.1): each fully connected layer ``W x + b`` of the RoI
box head, run once per proposal, becomes two smaller ones, ``U_r (S_r V_r^T x) + b``, from its top
``r`` singular values.

Why: on a CPU the box head's first layer is the single most expensive node of a mobilenet320 file
(fc6, 12544 x 1024, about 40 % of inference at 150 proposals); at rank r it costs ``r (in + out)``
instead of ``in * out`` multiply-adds per proposal. The layer is factored in the torch model before
export, so the file is an ordinary export (two Gemms where there was one), ``--check`` compares it with
the factored eager model exactly, and INT8 and the proposal budget compose with it unchanged. What the
approximation costs is judged by the accuracy gate (``edgedet.export.svd_file``), not assumed.

Each singular value's square root goes to both factors, so neither has a range far from the original
layer's (INT8 calibrates both per channel).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from edgedet.runtime.errors import EdgedetError


@dataclass(frozen=True)
class LayerRank:
    """One factored layer: ``name`` inside the box head, its shape, the rank kept and the share of the
    weight's energy (sum of squared singular values) that rank keeps."""

    name: str
    in_features: int
    out_features: int
    rank: int
    energy: float

    @property
    def cost_ratio(self) -> float:
        """Multiply-adds of the two factors over the original layer's."""
        return self.rank * (self.in_features + self.out_features) / (self.in_features * self.out_features)


@dataclass(frozen=True)
class SvdFacts:
    """What the factoring did, stored in the file's metadata (``extra["svd"]``) so the file says what it is
    and ``edgedet check`` can factor the eager model the same way."""

    layers: tuple[LayerRank, ...]

    @property
    def ranks(self) -> dict[str, int]:
        return {layer.name: layer.rank for layer in self.layers}

    def as_dict(self) -> dict:
        return {"ranks": self.ranks, "layers": [asdict(layer) for layer in self.layers]}

    def describe(self) -> str:
        return ", ".join(f"{f.name} {f.out_features}x{f.in_features} -> rank {f.rank} "
                         f"({100 * f.energy:.1f} % energy, {100 * f.cost_ratio:.0f} % of the cost)"
                         for f in self.layers)


def head_layers(model: nn.Module) -> dict[str, nn.Linear]:
    """The box head's fully connected layers by their name inside it (``fc6``, ``fc7`` for torchvision's
    ``TwoMLPHead``; the index, e.g. ``3``, in a ``FastRCNNConvFCHead``)."""
    head = model.roi_heads.box_head
    return {name: module for name, module in head.named_modules() if isinstance(module, nn.Linear)}


def max_useful_rank(layer: nn.Linear) -> int:
    """The largest rank whose two factors cost fewer multiply-adds than the layer itself."""
    n_in, n_out = layer.in_features, layer.out_features
    return (n_in * n_out - 1) // (n_in + n_out)


def parse_ranks(text: str) -> dict[str, int]:
    """``fc6=256,fc7=128`` -> {"fc6": 256, "fc7": 128}; a bare ``256`` -> {"*": 256} (every layer)."""
    ranks: dict[str, int] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, _, value = part.rpartition("=")
        try:
            rank = int(value)
        except ValueError:
            raise EdgedetError(f"'{part}' is not LAYER=RANK or RANK (e.g. fc6=256,fc7=128)") from None
        if rank < 1:
            raise EdgedetError(f"rank {rank} in '{part}' must be at least 1")
        ranks[name.strip() or "*"] = rank
    if not ranks:
        raise EdgedetError(f"'{text}' names no rank (e.g. fc6=256,fc7=128, or 256 for every layer)")
    return ranks


def resolve_ranks(model: nn.Module, ranks: dict[str, int]) -> dict[str, int]:
    """Ranks per layer of this model's head, checked: known names, and cheaper than the layer."""
    layers = head_layers(model)
    if not layers:
        raise EdgedetError("the box head has no fully connected layer to factor")
    resolved = {name: ranks["*"] for name in layers} if "*" in ranks else {}
    unknown = sorted(set(ranks) - set(layers) - {"*"})
    if unknown:
        raise EdgedetError(f"the box head has no layer {', '.join(unknown)}: its layers are {', '.join(layers)}")
    resolved.update({name: rank for name, rank in ranks.items() if name != "*"})
    for name, rank in resolved.items():
        limit = max_useful_rank(layers[name])
        if rank > limit:
            layer = layers[name]
            raise EdgedetError(f"rank {rank} of {name} ({layer.out_features}x{layer.in_features}) is no cheaper "
                               f"than the layer itself: use at most {limit}")
    return resolved


def _factored(layer: nn.Linear, rank: int) -> tuple[nn.Sequential, float]:
    weight = layer.weight.detach().double()
    u, s, vh = torch.linalg.svd(weight, full_matrices=False)
    root = s[:rank].sqrt()
    first = nn.Linear(layer.in_features, rank, bias=False)
    second = nn.Linear(rank, layer.out_features, bias=layer.bias is not None)
    with torch.no_grad():
        first.weight.copy_((root[:, None] * vh[:rank]).to(layer.weight.dtype))
        second.weight.copy_((u[:, :rank] * root[None, :]).to(layer.weight.dtype))
        if layer.bias is not None:
            second.bias.copy_(layer.bias.detach())
    energy = float((s[:rank] ** 2).sum() / (s ** 2).sum())
    return nn.Sequential(first, second).to(layer.weight.device), energy


def factor_box_head(model: nn.Module, ranks: dict[str, int]) -> SvdFacts:
    """Replace the named layers of ``model``'s box head by their rank-r factors, in place."""
    resolved = resolve_ranks(model, ranks)
    head, layers = model.roi_heads.box_head, head_layers(model)
    facts = []
    for name, rank in resolved.items():
        layer = layers[name]
        factored, energy = _factored(layer, rank)
        parent_name, _, attr = name.rpartition(".")
        parent = head.get_submodule(parent_name) if parent_name else head
        setattr(parent, attr, factored)
        facts.append(LayerRank(name, layer.in_features, layer.out_features, rank, energy))
    return SvdFacts(tuple(facts))

