"""Graph encoders on PyTorch Geometric's dense layers.

An encoder maps a batch of padded graphs to node embeddings ``(B, N, embed)`` and a graph
embedding ``(B, embed)`` (the mean over real nodes). Dense layers work on ``(B, N, F)``
tensors with an ``(B, N, N)`` adjacency, which is what an RL batch already is: no ``Batch``
object is built inside ``forward`` (2-5x slower here; see ``shared/design.md``). Which layers
a stack is made of is a layer kind (:mod:`edge_rl.nn.layers`, :data:`edge_rl.registry.LAYERS`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import nn
from torch_geometric.nn import JumpingKnowledge

from edge_rl.config import NODE_FEATURES, TASK_FEATURES, EncoderConfig
from edge_rl.nn.layers import layer_kind
from edge_rl.registry import encoder_layers

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
    inputs: torch.Tensor | None = None  # (B, N, INPUT_DIM): the raw node inputs, for root_path "heads"


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


class DenseGraphStack(nn.Module):
    """``layers`` dense graph layers of one kind, ReLU between them, and a root path.

    Widths: ``in_dim -> hidden -> ... -> hidden -> embed`` (card: 13 -> 64 -> 64 -> 128). The
    kind derives its graph operator once per forward pass and every layer reuses it.

    A GCN or GAT layer mixes a node's features with its neighbours' (one weighted self-loop
    among them): after a few layers on this sensor -> fog -> cloud graph the embeddings of
    different nodes are averages of the same neighbourhood, and heads that score node ``i``
    from its embedding cannot tell the nodes apart (over-smoothing). ``config.root_path`` keeps
    a path for each node's own features (:data:`~edge_rl.config.ROOT_PATHS`):

    - ``root``: ``h' = layer(h) + W_root h`` in every layer (GraphConv's and GraphSAGE's root
      weight; a kind that has one, GraphSAGE, gets no second);
    - ``residual``: ``h' = layer(h) + h`` (a linear map where the width changes), after an input
      projection ``h_0 = W_in x``;
    - ``jk``: jumping knowledge, ``W [h_1 || ... || h_L]`` (PyG's ``JumpingKnowledge("cat")``);
    - ``heads``: the stack is plain; the raw inputs go to the heads (:class:`GraphEncoder`).

    Padded nodes are not masked layer by layer: their rows and columns of the adjacency are
    zero (but for their self-loop), so nothing flows between them and real nodes; the encoder
    zeroes them once, at the end.
    """

    def __init__(self, kind: str, in_dim: int, config: EncoderConfig) -> None:
        super().__init__()
        self.kind, self.root_path = kind, config.root_path
        self.layer_kind = layer_kind(kind)
        self.input = nn.Linear(in_dim, config.hidden) if self.root_path == "residual" else None
        first = config.hidden if self.input is not None else in_dim
        widths = [first] + [config.hidden] * (config.layers - 1) + [config.embed]
        pairs = list(zip(widths[:-1], widths[1:]))
        self.convs = nn.ModuleList(self.layer_kind.conv(a, b, config) for a, b in pairs)
        self.roots = None
        if self.root_path == "root" and not self.layer_kind.has_root:
            self.roots = nn.ModuleList(nn.Linear(a, b, bias=False) for a, b in pairs)
        self.shortcuts = None
        if self.root_path == "residual":
            self.shortcuts = nn.ModuleList(nn.Identity() if a == b else nn.Linear(a, b, bias=False) for a, b in pairs)
        self.jump = None
        if self.root_path == "jk":
            self.jump = nn.Sequential(JumpingKnowledge("cat"), nn.Linear(sum(widths[1:]), config.embed))

    def operator(self, adj: torch.Tensor, adj_with_loops: torch.Tensor | None) -> Any:
        """What every layer of this stack reads of the graph (:meth:`LayerKind.prepare`)."""
        kind = self.layer_kind
        if kind.self_loops and adj_with_loops is None:
            raise ValueError(f"{self.kind} layers read the adjacency with self-loops: pass adj_with_loops")
        return kind.prepare(adj_with_loops if kind.self_loops else adj, self.convs)

    def forward(self, x: torch.Tensor, adj: torch.Tensor, adj_with_loops: torch.Tensor | None,
                every_layer: bool = False, operator: Any = None) -> torch.Tensor | list[torch.Tensor]:
        """Node embeddings ``(B, N, embed)``; with ``every_layer``, each layer's output (the
        last one first projected by ``jk``), to see how alike the nodes become. ``operator``:
        :meth:`operator` of this adjacency, if already derived."""
        kind = self.layer_kind
        if operator is None:
            operator = self.operator(adj, adj_with_loops)
        if self.input is not None:
            x = torch.relu(self.input(x))
        outputs, last = [], len(self.convs) - 1
        for i, conv in enumerate(self.convs):
            h = kind.apply(conv, x, operator)
            if self.roots is not None:
                h = h + self.roots[i](x)
            if self.shortcuts is not None:
                h = h + self.shortcuts[i](x)
            x = torch.relu(h) if i < last else h
            outputs.append(x)
        if self.jump is not None:
            x = self.jump(outputs)
            outputs.append(x)
        return outputs if every_layer else x


class GraphOperatorCache:
    """The graph operators of the last adjacency batch seen, per batch shape and mode.

    An RL run feeds the same topology over and over (one network per run, or a few with
    ``env_mix``), and a forward pass derives the same self-loops and normalised adjacency
    from it every time: about a tenth of a single observation's forward pass, a few percent of a
    training batch's. Comparing the batch with the last one costs one pass over it; when equal,
    the operators derived from the last one are reused: the same tensors, so the same numbers,
    bit for bit. Kept apart per inference mode (an inference tensor must not reach autograd)
    and never used for an adjacency that requires a gradient.

    Not part of the module's state: ``state_dict``, ``deepcopy`` and pickling see an empty cache.
    """

    def __init__(self) -> None:
        self._entries: dict[tuple, tuple[torch.Tensor, Any]] = {}

    def get(self, adj: torch.Tensor, derive: Callable[[torch.Tensor], Any]) -> Any:
        """``derive(adj)``, or what it returned for the last equal adjacency of this shape and mode."""
        if adj.requires_grad:
            return derive(adj)
        key = (tuple(adj.shape), adj.dtype, adj.device, torch.is_inference_mode_enabled())
        entry = self._entries.get(key)
        if entry is not None and torch.equal(entry[0], adj):
            return entry[1]
        derived = derive(adj)
        self._entries[key] = (adj.clone(), derived)  # a copy: the caller's tensor may be changed
        return derived

    def __deepcopy__(self, memo: dict) -> GraphOperatorCache:
        return GraphOperatorCache()

    def __getstate__(self) -> dict:
        return {"_entries": {}}


class GraphEncoder(nn.Module):
    """Node and graph embeddings of a batch of padded graphs.

    ``kind`` is a layer kind (``gcn``, ``gat``, ``sage``, ...) for one stack of that layer, or
    ``hybrid`` for the GCN, GAT and GraphSAGE stacks side by side, their node embeddings
    concatenated and projected back to ``embed`` (so the heads cannot tell the encoders apart
    by shape).

    If the observation's node count differs from the one a policy was trained on, nothing here
    changes: every weight is shared across nodes, so the same encoder runs on any ``N``.
    """

    def __init__(self, config: EncoderConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else EncoderConfig()
        kinds = encoder_layers(self.config.kind)  # one layer kind, or a combination's (the hybrid's three)
        self.stacks = nn.ModuleList(DenseGraphStack(k, INPUT_DIM, self.config) for k in kinds)
        embed = self.config.embed
        self.project = nn.Linear(len(kinds) * embed, embed) if len(kinds) > 1 else None
        self._self_loops = any(stack.layer_kind.self_loops for stack in self.stacks)
        self._operators = GraphOperatorCache()

    def _derive_operators(self, adj: torch.Tensor) -> tuple[torch.Tensor | None, list[Any]]:
        # Self-loops for the kinds that read them (GCN, GAT), added once for all their layers.
        loops = None
        if self._self_loops:
            loops = torch.maximum(adj, torch.eye(adj.shape[-1], dtype=adj.dtype, device=adj.device))
        return loops, [stack.operator(adj, loops) for stack in self.stacks]

    def forward(self, obs: dict[str, torch.Tensor]) -> GraphFeatures:
        x, adj, mask = node_inputs(obs), obs["adjacency"], obs["node_mask"]
        loops, operators = self._operators.get(adj, self._derive_operators)
        outputs = [stack(x, adj, loops, operator=op) for stack, op in zip(self.stacks, operators)]
        if self.project is None:
            nodes = outputs[0]
        else:
            nodes = self.project(torch.relu(torch.cat(outputs, dim=-1)))
        nodes = nodes * mask.unsqueeze(-1)
        # Masked mean over real nodes: padding must not dilute the graph embedding.
        graph = nodes.sum(dim=1) / mask.sum(dim=1, keepdim=True).clamp(min=1.0)
        inputs = x * mask.unsqueeze(-1) if self.config.root_path == "heads" else None
        return GraphFeatures(nodes=nodes, graph=graph, mask=mask, inputs=inputs)
