"""Node-scoring heads: one score per node from ``[h_i || g]``, the same weights for every node.

The same weights score 17 nodes or 50: the card's "17 outputs" are the 17 node scores. DQN's
Q-values, PPO's logits, the hybrid's Q and policy heads and its gating fusion are all node scorers.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from edge_rl.config import EncoderConfig
from edge_rl.nn.encoders import INPUT_DIM, GraphFeatures


class NodeScorer(nn.Module):
    """One score per node from ``[h_i || g]``; padded nodes get the lowest float.

    The first layer on the concatenation is written as ``W_h h_i + W_g g + b`` (two linear
    maps, the same function class): the graph term is computed once per graph, not per node.

    With ``inputs``, each node's raw encoder inputs ``x_i`` join too (``[x_i || h_i || g]``, the
    encoder's ``heads`` root path), as ``W_x x_i``.

    Args:
        embed: width of node and graph embeddings.
        hidden: hidden widths of the MLP (at least one).
        inputs: width of the raw node inputs, 0 for none.
    """

    def __init__(self, embed: int, hidden: tuple[int, ...] = (64,), inputs: int = 0) -> None:
        super().__init__()
        if not hidden:
            raise ValueError("NodeScorer needs at least one hidden layer (head_hidden / net_arch)")
        self.node_in = nn.Linear(embed, hidden[0], bias=False)
        self.graph_in = nn.Linear(embed, hidden[0])
        self.input_in = nn.Linear(inputs, hidden[0], bias=False) if inputs else None
        layers: list[nn.Module] = []
        for a, b in zip(hidden[:-1], hidden[1:]):
            layers += [nn.ReLU(), nn.Linear(a, b)]
        self.rest = nn.Sequential(*layers, nn.ReLU())
        self.out = nn.Linear(hidden[-1], 1)

    @classmethod
    def for_encoder(cls, config: EncoderConfig, hidden: tuple[int, ...] | None = None) -> NodeScorer:
        """A scorer of the nodes ``config``'s encoder embeds (its raw inputs too with ``heads``)."""
        return cls(config.embed, tuple(hidden if hidden is not None else config.head_hidden),
                   INPUT_DIM if config.root_path == "heads" else 0)

    def forward(self, features: GraphFeatures) -> torch.Tensor:
        nodes, graph, mask, inputs = features
        # Functional calls on the submodules' parameters: the same maths as calling the
        # modules, without nn.Module's per-call overhead (a third of a single-observation pass).
        x = F.linear(nodes, self.node_in.weight) + F.linear(graph, self.graph_in.weight, self.graph_in.bias).unsqueeze(1)
        if self.input_in is not None:
            if inputs is None:
                raise ValueError("this scorer reads the raw node inputs: its encoder's root_path must be 'heads'")
            x = x + F.linear(inputs, self.input_in.weight)
        for layer in self.rest:
            x = F.linear(x, layer.weight, layer.bias) if isinstance(layer, nn.Linear) else torch.relu(x)
        scores = F.linear(x, self.out.weight, self.out.bias).squeeze(-1)
        return scores.masked_fill(mask < 0.5, torch.finfo(scores.dtype).min)
