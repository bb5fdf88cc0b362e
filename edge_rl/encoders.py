"""Graph encoders on PyTorch Geometric's dense layers.

An encoder maps a batch of padded graphs to node embeddings ``(B, N, embed)`` and a graph
embedding ``(B, embed)`` (the mean over real nodes). Dense layers work on ``(B, N, F)``
tensors with an ``(B, N, N)`` adjacency, which is what an RL batch already is: no ``Batch``
object is built inside ``forward`` (2-5x slower here; see ``shared/design.md``).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F
from torch_geometric.nn import DenseGATConv, DenseGCNConv, DenseSAGEConv

from edge_rl.config import NODE_FEATURES, TASK_FEATURES, EncoderConfig

NODE_TYPE = NODE_FEATURES.index("node_type")  # the last column
assert NODE_TYPE == len(NODE_FEATURES) - 1
N_NODE_TYPES = 3
INPUT_DIM = (len(NODE_FEATURES) - 1) + N_NODE_TYPES + len(TASK_FEATURES)
"""Per-node input: 6 continuous features, the node type one-hot, and the task's 4 features."""


class GraphFeatures(NamedTuple):
    """What an encoder returns (and what Stable-Baselines3 passes from extractor to heads)."""

    nodes: torch.Tensor  # (B, N, embed), zero on padded nodes
    graph: torch.Tensor  # (B, embed)
    mask: torch.Tensor  # (B, N), 1 for real nodes


def node_inputs(obs: dict[str, torch.Tensor]) -> torch.Tensor:
    """Per-node encoder input ``(B, N, INPUT_DIM)`` from a batched graph observation.

    The node type becomes a one-hot (0/1/2 is a category, not a magnitude), and the current
    task's features are appended to every node, so each node embedding knows what is being
    placed. (Written into one preallocated tensor: the same values as concatenating the three
    parts, in about half the time for a training batch.)
    """
    nodes, task = obs["nodes"], obs["task"]
    out = nodes.new_empty(*nodes.shape[:-1], INPUT_DIM)
    out[..., :NODE_TYPE] = nodes[..., :NODE_TYPE]
    types = torch.arange(N_NODE_TYPES, dtype=nodes.dtype, device=nodes.device)
    torch.eq(nodes[..., NODE_TYPE : NODE_TYPE + 1], types, out=out[..., NODE_TYPE : NODE_TYPE + N_NODE_TYPES])
    out[..., NODE_TYPE + N_NODE_TYPES :] = task.unsqueeze(-2)
    return out


def _conv(kind: str, in_dim: int, out_dim: int, gat_heads: int) -> nn.Module:
    if kind == "gcn":
        return DenseGCNConv(in_dim, out_dim)
    if kind == "gat":
        return DenseGATConv(in_dim, out_dim, heads=gat_heads, concat=False)
    if kind == "sage":
        return DenseSAGEConv(in_dim, out_dim)
    raise ValueError(f"unknown graph layer {kind!r}; accepted: gcn, gat, sage")


class DenseGraphStack(nn.Module):
    """``layers`` dense graph convolutions of one kind, ReLU between them.

    Widths: ``in_dim -> hidden -> ... -> hidden -> embed`` (card: 13 -> 64 -> 64 -> 128).

    The layers are PyG's (``DenseGCNConv``, ``DenseGATConv``, ``DenseSAGEConv``): their
    parameters, their initialisation, their maths. What the stack does differently is *when*:
    PyG's ``forward`` derives its graph operator from the adjacency in every layer; here
    :meth:`prepare` derives it once per forward pass and every layer reuses it. Three shortcuts,
    all exact or to float rounding (tests compare with PyG's dense and sparse layers):

    - GCN: the normalised adjacency ``D^-1/2 (A + I) D^-1/2`` is computed once, exactly as PyG
      computes it, so the result is bit-identical to chaining PyG's layers.
    - GraphSAGE: the in-degrees are computed once (also bit-identical).
    - GAT (one head, the card's): the attention mask becomes an additive ``-inf`` bias computed
      once, and the softmax runs over the last dimension of a ``(B, N, N)`` tensor. PyG's
      layer takes it over dimension 2 of ``(B, N, N, heads)``, which PyTorch's CPU kernel does
      about 5x slower at these sizes, and averages over a single head. Equal to PyG's layer
      to about 1e-6 (float rounding), not bit for bit. With ``gat_heads > 1``, PyG's forward runs.
      Layers with other options than PyG's defaults also run PyG's own forward.

    Padded nodes are not masked layer by layer: their rows and columns of the adjacency are
    zero (but for their self-loop), so nothing flows between them and real nodes; the encoder
    zeroes them once, at the end.
    """

    def __init__(self, kind: str, in_dim: int, config: EncoderConfig) -> None:
        super().__init__()
        widths = [in_dim] + [config.hidden] * (config.layers - 1) + [config.embed]
        self.kind = kind
        self.convs = nn.ModuleList(
            _conv(kind, a, b, config.gat_heads) for a, b in zip(widths[:-1], widths[1:])
        )

    @property
    def prepared(self) -> bool:
        """Whether the shortcuts apply: they assume PyG's defaults, which ``_conv`` keeps. A layer
        set otherwise (SAGE's ``normalize``, GAT's heads or dropout) runs PyG's own forward
        rather than having the setting silently ignored. (GCN's only option, ``improved``,
        weighs the self-loops PyG adds; the encoder adds its own, of weight 1, either way.)"""
        first = self.convs[0]
        if self.kind == "gcn":
            return True
        if self.kind == "sage":
            return not first.normalize
        return first.heads == 1 and first.dropout == 0.0

    def prepare(self, adj: torch.Tensor, adj_with_loops: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """What every layer of this stack reads of the ``(B, N, N)`` graph: its operator, and
        for GraphSAGE the in-degrees that turn a neighbour sum into a mean."""
        if self.kind == "sage":  # neighbours only (the root has its own weights): no self-loops
            return adj, (adj.sum(dim=-1, keepdim=True).clamp(min=1) if self.prepared else None)
        if adj_with_loops is None:
            raise ValueError("GCN and GAT layers read the adjacency with self-loops: pass adj_with_loops")
        if not self.prepared:
            return adj_with_loops, None
        if self.kind == "gcn":  # PyG's normalisation, verbatim
            deg_inv_sqrt = adj_with_loops.sum(dim=-1).clamp(min=1).pow(-0.5)
            return deg_inv_sqrt.unsqueeze(-1) * adj_with_loops * deg_inv_sqrt.unsqueeze(-2), None
        # GAT: 0 where j -> i is an edge, -inf elsewhere (PyG masks where adj == 0): masks the softmax
        return torch.where(adj_with_loops != 0, 0.0, float("-inf")), None

    def forward(self, x: torch.Tensor, adj: torch.Tensor, adj_with_loops: torch.Tensor | None) -> torch.Tensor:
        operator, degree = self.prepare(adj, adj_with_loops)
        prepared, last = self.prepared, len(self.convs) - 1
        for i, conv in enumerate(self.convs):
            # The layers' own parameters through F.linear: PyG's Linear.forward is F.linear, so
            # this is the same computation, without nn.Module's per-call overhead.
            if not prepared:  # PyG's forward, on the operator it expects
                x = conv(x, operator) if self.kind == "sage" else conv(x, operator, add_loop=False)
            elif self.kind == "gcn":  # DenseGCNConv: A_norm (X W) + b
                x = torch.matmul(operator, F.linear(x, conv.lin.weight)) + conv.bias
            elif self.kind == "sage":  # DenseSAGEConv: W_rel mean_{j in N(i)} x_j + W_root x_i + b
                mean = torch.matmul(operator, x) / degree
                x = F.linear(mean, conv.lin_rel.weight) + F.linear(x, conv.lin_root.weight, conv.lin_root.bias)
            else:
                x = self._gat_layer(conv, x, operator)
            if i < last:
                x = torch.relu(x)
        return x

    @staticmethod
    def _gat_layer(conv: DenseGATConv, x: torch.Tensor, mask_bias: torch.Tensor) -> torch.Tensor:
        """DenseGATConv with one head: ``x_i' = sum_j softmax_j(e_ij) W x_j + b``, where
        ``e_ij = LeakyReLU(a_dst . W x_i + a_src . W x_j)`` over the edges ``j -> i``."""
        h = F.linear(x, conv.lin.weight)  # (B, N, C)
        target = F.linear(h, conv.att_dst.view(1, -1))  # (B, N, 1): a_dst . W x_i
        source = F.linear(h, conv.att_src.view(1, -1)).transpose(1, 2)  # (B, 1, N): a_src . W x_j
        scores = target + source  # (B, N, N): e_ij before the LeakyReLU, i the target, j the source
        scores = F.leaky_relu(scores, conv.negative_slope).add_(mask_bias)  # in place: LeakyReLU's backward reads its input
        return torch.baddbmm(conv.bias, scores.softmax(dim=-1), h)  # b + softmax(e) W x


class GraphEncoder(nn.Module):
    """Node and graph embeddings of a batch of padded graphs.

    ``kind`` is ``gcn``, ``gat`` or ``sage`` for one stack of that layer, or ``hybrid`` for
    the three stacks side by side, their node embeddings concatenated and projected back to
    ``embed`` (so the heads cannot tell the encoders apart by shape).

    If the observation's node count differs from the one a policy was trained on, nothing here
    changes: every weight is shared across nodes, so the same encoder runs on any ``N``.
    """

    def __init__(self, config: EncoderConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else EncoderConfig()
        kinds = ("gcn", "gat", "sage") if self.config.kind == "hybrid" else (self.config.kind,)
        self.stacks = nn.ModuleList(DenseGraphStack(k, INPUT_DIM, self.config) for k in kinds)
        embed = self.config.embed
        self.project = nn.Linear(len(kinds) * embed, embed) if len(kinds) > 1 else None

    def forward(self, obs: dict[str, torch.Tensor]) -> GraphFeatures:
        x, adj, mask = node_inputs(obs), obs["adjacency"], obs["node_mask"]
        # Self-loops for GCN and GAT, added once for all their layers (GraphSAGE reads ``adj``).
        loops = None
        if self.config.kind != "sage":
            loops = torch.maximum(adj, torch.eye(adj.shape[-1], dtype=adj.dtype, device=adj.device))
        outputs = [stack(x, adj, loops) for stack in self.stacks]
        if self.project is None:
            nodes = outputs[0]
        else:
            nodes = self.project(torch.relu(torch.cat(outputs, dim=-1)))
        nodes = nodes * mask.unsqueeze(-1)
        # Masked mean over real nodes: padding must not dilute the graph embedding.
        graph = nodes.sum(dim=1) / mask.sum(dim=1, keepdim=True).clamp(min=1.0)
        return GraphFeatures(nodes=nodes, graph=graph, mask=mask)
