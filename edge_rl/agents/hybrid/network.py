"""The hybrid's network: one graph encoder, three heads, and the fusion of two of them.

A :class:`~edge_rl.nn.encoders.GraphEncoder` is shared by a Q head and a policy head, which
score nodes from ``[h_i || g]`` (the :class:`~edge_rl.nn.heads.NodeScorer` of the baselines),
and a value head on the graph embedding ``g``. The agent acts with the *fused* distribution
``softmax(z)``, where ``z`` mixes the per-state standardised Q-values with the policy logits
(:mod:`edge_rl.nn.fusions`). :func:`warm_start` copies pre-trained baselines into it.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from edge_rl.agents.baselines import BaselineAgent
from edge_rl.config import EncoderConfig, HybridConfig
from edge_rl.nn.encoders import GraphEncoder, GraphFeatures
from edge_rl.nn.fusions import Fusion, standardise
from edge_rl.nn.heads import NodeScorer
from edge_rl.registry import FUSIONS


class HybridOutput(NamedTuple):
    q_values: torch.Tensor  # (B, N), lowest float on padded nodes
    logits: torch.Tensor  # (B, N) policy head, lowest float on padded nodes
    fused: torch.Tensor  # (B, N) the logits the agent acts with
    value: torch.Tensor  # (B,)


class HybridNetwork(nn.Module):
    """Encoder, Q head, policy head, value head, and the fusion of Q and policy.

    Args:
        encoder: the graph encoder's config (card: GCN, 64 hidden, 3 layers, 128 embedding).
        hybrid: the fusion (:data:`edge_rl.registry.FUSIONS`) and its weights.
    """

    def __init__(self, encoder: EncoderConfig, hybrid: HybridConfig) -> None:
        super().__init__()
        embed, hidden = encoder.embed, encoder.head_hidden
        self.encoder = GraphEncoder(encoder)
        self.q_head = NodeScorer.for_encoder(encoder)
        self.policy_head = NodeScorer.for_encoder(encoder)
        # The value head has the layout of SB3's PPO critic (MLP with tanh, then a linear
        # layer), so that a pre-trained PPO critic can be copied into it.
        layers: list[nn.Module] = []
        for a, b in zip((embed, *hidden[:-1]), hidden):
            layers += [nn.Linear(a, b), nn.Tanh()]
        self.value_head = nn.Sequential(*layers, nn.Linear(hidden[-1], 1))
        # The fusion's parameters (if any) under the name its checkpoints use ("attention", "gate").
        self.fusion_name = hybrid.fusion
        fusion: Fusion = FUSIONS.get(hybrid.fusion)(encoder, hybrid)
        self.add_module(fusion.attribute, fusion)
        self._fusion_attribute = fusion.attribute

    @property
    def fuse(self) -> Fusion:
        """The fusion module (:mod:`edge_rl.nn.fusions`)."""
        return getattr(self, self._fusion_attribute)

    def q_values(self, obs: dict[str, torch.Tensor], actions: torch.Tensor | None = None) -> torch.Tensor:
        """Q(s, .) on every node ``(B, N)``; with ``actions`` ``(B, 1)``, Q(s, a) alone ``(B, 1)``.

        The TD loss and its target read one Q-value per state, and the Q head scores each
        node on its own (from ``[h_i || g]``): the encoder still passes messages over the
        whole graph, but the head then scores the chosen node only.
        """
        features: GraphFeatures = self.encoder(obs)
        if actions is not None:
            index = actions.unsqueeze(-1).expand(-1, -1, features.nodes.shape[-1])
            inputs = features.inputs
            if inputs is not None:
                inputs = inputs.gather(1, actions.unsqueeze(-1).expand(-1, -1, inputs.shape[-1]))
            features = GraphFeatures(features.nodes.gather(1, index), features.graph, features.mask.gather(1, actions),
                                     inputs)
        return self.q_head(features)

    def value(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """V(s) alone ``(B,)``: PPO's bootstrap values need neither Q nor policy head."""
        return self.value_head(self.encoder(obs).graph).squeeze(-1)

    def forward(self, obs: dict[str, torch.Tensor]) -> HybridOutput:
        features: GraphFeatures = self.encoder(obs)
        q_values, logits = self.q_head(features), self.policy_head(features)
        mask = features.mask
        q_scaled = standardise(q_values, mask)
        real_logits = torch.where(mask > 0.5, logits, 0.0)
        fused = self.fuse.fuse(q_scaled, real_logits, features)
        fused = fused.masked_fill(mask < 0.5, torch.finfo(fused.dtype).min)
        value = self.value_head(features.graph).squeeze(-1)
        return HybridOutput(q_values, logits, fused, value)


def warm_start(network: HybridNetwork, dqn: BaselineAgent, ppo: BaselineAgent,
               encoder_from: str = "dqn") -> None:
    """Copy pre-trained weights into ``network``.

    - Q head <- DQN-GNN's Q network head; policy head <- PPO-GNN's node scorer (its
      ``action_net``); value head <- PPO-GNN's critic (``mlp_extractor.value_net`` + ``value_net``).
    - Encoder <- DQN-GNN's (default) or PPO-GNN's. There is one encoder and two pre-trained
      ones; we take the one under the head with the larger fusion weight (Q: 0.6), so the
      agent starts out acting like the pre-trained DQN; the policy and value heads then adapt
      to it during fine-tuning.
    - The fusion's own weights (attention, gate) start fresh: nothing pre-trained has them.
    """
    q_net, policy = dqn.policy.q_net, ppo.policy
    source = q_net.features_extractor.encoder if encoder_from == "dqn" else policy.features_extractor.encoder
    network.encoder.load_state_dict(source.state_dict())
    network.q_head.load_state_dict(q_net.q_net.state_dict())
    network.policy_head.load_state_dict(policy.action_net.state_dict())
    critic = nn.Sequential(*policy.mlp_extractor.value_net, policy.value_net)
    network.value_head.load_state_dict(critic.state_dict())
