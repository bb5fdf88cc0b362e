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
    placed.
    """
    nodes = obs["nodes"]
    types = torch.arange(N_NODE_TYPES, dtype=nodes.dtype, device=nodes.device)
    one_hot = (nodes[..., NODE_TYPE : NODE_TYPE + 1] == types).to(nodes.dtype)
    task = obs["task"].unsqueeze(-2).expand(*nodes.shape[:-1], obs["task"].shape[-1])
    return torch.cat([nodes[..., :NODE_TYPE], one_hot, task], dim=-1)


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

    Two shortcuts, both exact: GCN and GAT self-loops are added to the adjacency once, not by
    every layer; and padded nodes are not masked layer by layer, because their rows and
    columns of the adjacency are zero, so nothing flows between them and real nodes (the
    encoder zeroes them once, at the end).
    """

    def __init__(self, kind: str, in_dim: int, config: EncoderConfig) -> None:
        super().__init__()
        widths = [in_dim] + [config.hidden] * (config.layers - 1) + [config.embed]
        self.kind = kind
        self.convs = nn.ModuleList(
            _conv(kind, a, b, config.gat_heads) for a, b in zip(widths[:-1], widths[1:])
        )

    def forward(self, x: torch.Tensor, adj: torch.Tensor, adj_with_loops: torch.Tensor | None) -> torch.Tensor:
        last = len(self.convs) - 1
        for i, conv in enumerate(self.convs):
            if adj_with_loops is None:  # GraphSAGE keeps the root term apart: no self-loops
                x = conv(x, adj)
            else:
                x = conv(x, adj_with_loops, add_loop=False)
            if i < last:
                x = torch.relu(x)
        return x


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
        loops = None
        if self.config.kind != "sage":
            loops = torch.maximum(adj, torch.eye(adj.shape[-1], dtype=adj.dtype, device=adj.device))
        outputs = [stack(x, adj, None if stack.kind == "sage" else loops) for stack in self.stacks]
        if self.project is None:
            nodes = outputs[0]
        else:
            nodes = self.project(torch.relu(torch.cat(outputs, dim=-1)))
        nodes = nodes * mask.unsqueeze(-1)
        # Masked mean over real nodes: padding must not dilute the graph embedding.
        graph = nodes.sum(dim=1) / mask.sum(dim=1, keepdim=True).clamp(min=1.0)
        return GraphFeatures(nodes=nodes, graph=graph, mask=mask)
