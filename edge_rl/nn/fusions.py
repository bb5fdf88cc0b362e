"""How the hybrid fuses its Q-values with its policy logits: one module per fusion.

Each fusion maps the per-state standardised Q-values ``q~`` and the policy logits ``l`` (both
``(B, N)``, zero on padded nodes) and the graph features to the fused logits ``z`` the agent
acts with (:meth:`Fusion.fuse`). Registered in :data:`edge_rl.registry.FUSIONS`:

- ``weighted_sum``: ``z = 0.6 q~ + 0.4 l`` (the card's weights, ``HybridConfig.q_weight`` and
  ``policy_weight``).
- ``attention``: ``z = a_q q~ + a_l l`` with ``(a_q, a_l) = softmax(W g)``, weights per state.
- ``gating``: ``z_i = s_i q~_i + (1 - s_i) l_i`` with ``s_i = sigmoid(MLP[h_i || g])``, per node.

A fusion's parameters live in the hybrid network under :attr:`Fusion.attribute`, the name its
checkpoints use.
"""

from __future__ import annotations

import torch
from torch import nn

from edge_rl.config import EncoderConfig, HybridConfig
from edge_rl.nn.encoders import INPUT_DIM, GraphFeatures
from edge_rl.nn.heads import NodeScorer


def standardise(q_values: torch.Tensor, mask: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Per-state z-scores of the Q-values over the real nodes (0 on padded nodes).

    Q-values are in reward units and their spread changes from state to state; standardising
    them (zero mean, unit deviation over the real nodes) puts them on the scale of logits, so
    a fusion's weights mean something.
    """
    real = mask > 0.5
    count = real.sum(dim=-1, keepdim=True).clamp(min=1)
    q = torch.where(real, q_values, 0.0)
    mean = q.sum(dim=-1, keepdim=True) / count
    centred = torch.where(real, q_values - mean, 0.0)
    # sqrt(var + eps^2), not sqrt(var) + eps: when every node has the same Q-value (a collapsed
    # encoder can do that) the gradient of sqrt at 0 is infinite and would turn the weights NaN.
    std = (centred.pow(2).sum(dim=-1, keepdim=True) / count + eps * eps).sqrt()
    return centred / std


class Fusion(nn.Module):
    """Base class: ``fuse(q_scaled, logits, features) -> fused`` logits ``(B, N)``.

    Subclasses are built as ``cls(encoder, config)`` (the encoder's config, whose embedding and
    head widths they may use, and the :class:`~edge_rl.config.HybridConfig`).
    """

    attribute = "fusion"
    """The hybrid network's attribute for this module: its parameters' names in checkpoints."""

    def fuse(self, q_scaled: torch.Tensor, logits: torch.Tensor, features: GraphFeatures) -> torch.Tensor:
        raise NotImplementedError


class WeightedSum(Fusion):
    """``z = q_weight * q~ + policy_weight * l``: fixed weights, no parameters."""

    def __init__(self, encoder: EncoderConfig, config: HybridConfig) -> None:
        super().__init__()
        self.q_weight, self.policy_weight = config.q_weight, config.policy_weight

    def fuse(self, q_scaled: torch.Tensor, logits: torch.Tensor, features: GraphFeatures) -> torch.Tensor:
        return self.q_weight * q_scaled + self.policy_weight * logits


class Attention(nn.Linear, Fusion):
    """``(a_q, a_l) = softmax(W g + b)``: one pair of weights per state, from the graph embedding."""

    attribute = "attention"

    def __init__(self, encoder: EncoderConfig, config: HybridConfig) -> None:
        super().__init__(encoder.embed, 2)

    def fuse(self, q_scaled: torch.Tensor, logits: torch.Tensor, features: GraphFeatures) -> torch.Tensor:
        weights = torch.softmax(self(features.graph), dim=-1)  # (B, 2)
        return weights[:, :1] * q_scaled + weights[:, 1:] * logits


class Gating(NodeScorer, Fusion):
    """``s_i = sigmoid(MLP[h_i || g])``: a learned gate per node, a node scorer of its own."""

    attribute = "gate"

    def __init__(self, encoder: EncoderConfig, config: HybridConfig) -> None:
        super().__init__(encoder.embed, encoder.head_hidden,
                         INPUT_DIM if encoder.root_path == "heads" else 0)

    def fuse(self, q_scaled: torch.Tensor, logits: torch.Tensor, features: GraphFeatures) -> torch.Tensor:
        mask = features.mask
        gate = torch.sigmoid(torch.where(mask > 0.5, self(features), 0.0))
        return gate * q_scaled + (1.0 - gate) * logits
