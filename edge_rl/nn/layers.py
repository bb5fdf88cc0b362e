"""Graph layer kinds: how each kind of dense graph layer is built and run in a stack.

A kind is one small class (:class:`LayerKind`), in the manner of PyTorch Geometric's
``BasicGNN.init_conv``: :meth:`~LayerKind.conv` builds one layer; :meth:`~LayerKind.prepare`
derives, once per forward pass, what every layer of the stack reads of the graph; and
:meth:`~LayerKind.apply` runs one layer on it. The defaults run PyG's own ``forward`` on the
adjacency, so a new kind overrides :meth:`~LayerKind.conv` alone, and a PyG dense layer whose
constructor is ``(in_dim, out_dim)`` (``DenseGraphConv``, say) can be registered as it is
(:data:`edge_rl.registry.LAYERS`).

The three kinds here keep PyG's layers (their parameters, initialisation and maths) and only
change *when* the graph operator is derived: once per forward pass, not in every layer. All
exact or equal to float rounding (``tests/test_encoders.py`` compares them with PyG's dense
and sparse layers):

- GCN: the normalised adjacency ``D^-1/2 (A + I) D^-1/2``, computed exactly as PyG computes
  it: bit-identical to chaining PyG's layers.
- GraphSAGE: the in-degrees, computed once (also bit-identical).
- GAT (one head, the card's): the attention mask becomes an additive ``-inf`` bias computed
  once, and the softmax runs over the last dimension of a ``(B, N, N)`` tensor. PyG's layer
  takes it over dimension 2 of ``(B, N, N, heads)``, which PyTorch's CPU kernel does about 5x
  slower at these sizes, and averages over a single head. Equal to PyG's layer to about 1e-6.

A layer set otherwise than PyG's defaults (SAGE's ``normalize``, GAT's heads or dropout) runs
PyG's own forward, rather than having the setting silently ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from torch_geometric.nn import DenseGATConv, DenseGCNConv, DenseSAGEConv

from edge_rl.config import EncoderConfig
from edge_rl.registry import LAYERS


class LayerKind:
    """How one kind of dense graph layer is built and run; subclass it for a new kind.

    Attributes:
        self_loops: whether the layers read the adjacency with self-loops (GCN, GAT) or
            without (GraphSAGE, which has a separate weight for the node itself).
        has_root: whether the layer has a weight of its own for the node itself (GraphSAGE's
            ``lin_root``): the ``root`` root path then adds none.
    """

    self_loops = True
    has_root = False

    def conv(self, in_dim: int, out_dim: int, config: EncoderConfig) -> nn.Module:
        """One layer from ``in_dim`` to ``out_dim`` features."""
        raise NotImplementedError(f"{type(self).__name__} must say how to build its layer: override conv()")

    def prepare(self, adj: torch.Tensor, convs: Sequence[nn.Module]) -> Any:
        """What every layer reads of the ``(B, N, N)`` graph (with self-loops if
        :attr:`self_loops`), derived once per forward pass. Default: the adjacency itself."""
        return adj

    def apply(self, conv: nn.Module, x: torch.Tensor, operator: Any) -> torch.Tensor:
        """One layer on node features ``x`` ``(B, N, F)``. Default: PyG's forward on the
        adjacency (self-loops, if any, already in it: PyG must not add its own)."""
        return conv(x, operator, add_loop=False) if self.self_loops else conv(x, operator)


class PyGLayer(LayerKind):
    """A PyG dense layer class registered as it is: built as ``layer(in_dim, out_dim)`` and run
    by its own ``forward(x, adj)``, on the adjacency without self-loops."""

    self_loops = False

    def __init__(self, layer: type[nn.Module]) -> None:
        self.layer = layer

    def conv(self, in_dim: int, out_dim: int, config: EncoderConfig) -> nn.Module:
        return self.layer(in_dim, out_dim)


class GCN(LayerKind):
    """``DenseGCNConv``: ``x' = D^-1/2 (A + I) D^-1/2 X W + b``."""

    def conv(self, in_dim: int, out_dim: int, config: EncoderConfig) -> nn.Module:
        return DenseGCNConv(in_dim, out_dim)

    def prepare(self, adj: torch.Tensor, convs: Sequence[nn.Module]) -> torch.Tensor:
        # PyG's normalisation, verbatim. (GCN's only option, ``improved``, weighs the self-loops
        # PyG adds; the encoder adds its own, of weight 1, either way.)
        deg_inv_sqrt = adj.sum(dim=-1).clamp(min=1).pow(-0.5)
        return deg_inv_sqrt.unsqueeze(-1) * adj * deg_inv_sqrt.unsqueeze(-2)

    def apply(self, conv: nn.Module, x: torch.Tensor, operator: torch.Tensor) -> torch.Tensor:
        # The layer's own parameters through F.linear: PyG's Linear.forward is F.linear, so this
        # is the same computation, without nn.Module's per-call overhead.
        return torch.matmul(operator, F.linear(x, conv.lin.weight)) + conv.bias


class SAGE(LayerKind):
    """``DenseSAGEConv``: ``x_i' = W_rel mean_{j in N(i)} x_j + W_root x_i + b``."""

    self_loops = False  # neighbours only: the node itself has its own weight (lin_root)
    has_root = True

    def conv(self, in_dim: int, out_dim: int, config: EncoderConfig) -> nn.Module:
        return DenseSAGEConv(in_dim, out_dim)

    def prepare(self, adj: torch.Tensor, convs: Sequence[nn.Module]) -> tuple[torch.Tensor, torch.Tensor | None]:
        # The in-degrees that turn a neighbour sum into a mean; None: PyG's forward (normalize).
        return adj, (None if convs[0].normalize else adj.sum(dim=-1, keepdim=True).clamp(min=1))

    def apply(self, conv: nn.Module, x: torch.Tensor, operator: tuple[torch.Tensor, torch.Tensor | None]) -> torch.Tensor:
        adj, degree = operator
        if degree is None:
            return conv(x, adj)
        mean = torch.matmul(adj, x) / degree
        return F.linear(mean, conv.lin_rel.weight) + F.linear(x, conv.lin_root.weight, conv.lin_root.bias)


class GAT(LayerKind):
    """``DenseGATConv``: ``x_i' = sum_j softmax_j(e_ij) W x_j + b`` over the edges ``j -> i``,
    ``e_ij = LeakyReLU(a_dst . W x_i + a_src . W x_j)``; heads averaged (``gat_heads``)."""

    def conv(self, in_dim: int, out_dim: int, config: EncoderConfig) -> nn.Module:
        return DenseGATConv(in_dim, out_dim, heads=config.gat_heads, concat=False)

    def prepare(self, adj: torch.Tensor, convs: Sequence[nn.Module]) -> tuple[torch.Tensor, bool]:
        first = convs[0]
        if first.heads != 1 or first.dropout != 0.0:
            return adj, False  # PyG's forward
        # 0 where j -> i is an edge, -inf elsewhere (PyG masks where adj == 0): masks the softmax.
        return torch.where(adj != 0, 0.0, float("-inf")), True

    def apply(self, conv: nn.Module, x: torch.Tensor, operator: tuple[torch.Tensor, bool]) -> torch.Tensor:
        mask_bias, fast = operator
        if not fast:
            return conv(x, mask_bias, add_loop=False)
        h = F.linear(x, conv.lin.weight)  # (B, N, C)
        target = F.linear(h, conv.att_dst.view(1, -1))  # (B, N, 1): a_dst . W x_i
        source = F.linear(h, conv.att_src.view(1, -1)).transpose(1, 2)  # (B, 1, N): a_src . W x_j
        scores = target + source  # (B, N, N): e_ij before the LeakyReLU, i the target, j the source
        scores = F.leaky_relu(scores, conv.negative_slope).add_(mask_bias)  # in place: LeakyReLU's backward reads its input
        return torch.baddbmm(conv.bias, scores.softmax(dim=-1), h)  # b + softmax(e) W x


def layer_kind(name: str) -> LayerKind:
    """The registered layer kind ``name`` (:data:`edge_rl.registry.LAYERS`), ready to use."""
    entry = LAYERS.get(name)
    if isinstance(entry, type) and issubclass(entry, LayerKind):
        return entry()
    if isinstance(entry, LayerKind):
        return entry
    if isinstance(entry, type) and issubclass(entry, nn.Module):
        return PyGLayer(entry)
    raise TypeError(f"layer kind {name!r} is registered as {entry!r}: register a LayerKind subclass or a "
                    "PyG dense layer class")
