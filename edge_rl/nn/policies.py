"""Graph policies for Stable-Baselines3's DQN and PPO.

The pieces, and where each plugs into SB3:

- :class:`GraphFeaturesExtractor` (SB3's ``features_extractor_class`` hook) runs a
  :class:`~edge_rl.nn.encoders.GraphEncoder` and hands SB3 a :class:`GraphFeatures` tuple.
- :class:`~edge_rl.nn.heads.NodeScorer` scores each node from ``[h_i || g]`` with one MLP.
  The same weights score 17 nodes or 50: the card's "17 outputs" are the 17 node scores.
  Padded nodes get the lowest float, so they are never the argmax and get zero probability.
- DQN: :class:`GraphDQNPolicy` overrides ``make_q_net`` (SB3 has no hook for the Q head) to
  use a :class:`GraphQNetwork` whose Q-values are node scores.
- PPO: :class:`GraphActorCriticPolicy` replaces ``action_net`` (logits) with a node scorer and
  feeds the value head from the graph embedding.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.distributions import CategoricalDistribution
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.dqn.policies import DQNPolicy, QNetwork
from torch import nn

from edge_rl.config import EncoderConfig
from edge_rl.nn.encoders import GraphEncoder, GraphFeatures
from edge_rl.nn.heads import NodeScorer

GRAPH_KEYS = ("nodes", "adjacency", "node_mask", "task")


def _check_graph_space(observation_space: spaces.Space) -> None:
    if not isinstance(observation_space, spaces.Dict) or set(observation_space.spaces) != set(
        GRAPH_KEYS
    ):
        raise ValueError(
            "graph policies need the Dict observation of edge_rl/IoTEdge-v0 (keys "
            f"{list(GRAPH_KEYS)}), got {observation_space}; for a flattened observation use "
            "policy='mlp'"
        )


class GraphFeaturesExtractor(BaseFeaturesExtractor):
    """SB3 features extractor: the graph observation -> node and graph embeddings.

    Pass it as ``policy_kwargs=dict(features_extractor_class=GraphFeaturesExtractor,
    features_extractor_kwargs=dict(config=EncoderConfig(kind="gat")))``.
    ``features_dim`` is the embedding width; the heads read :class:`GraphFeatures`, not a
    flat vector.
    """

    def __init__(self, observation_space: spaces.Dict, config: EncoderConfig | None = None) -> None:
        _check_graph_space(observation_space)
        config = config if config is not None else EncoderConfig()
        super().__init__(observation_space, features_dim=config.embed)
        self.encoder = GraphEncoder(config)

    def forward(self, observations: dict[str, torch.Tensor]) -> GraphFeatures:  # type: ignore[override]
        return self.encoder(observations)


class _FloatObservations:
    """``extract_features`` without SB3's ``preprocess_obs`` when every tensor is already
    float32: on a Box space that is ``obs.float()`` per key, which then returns the tensor
    itself, so skipping it changes no number (it is a Python walk over the dict per pass)."""

    features_extractor: BaseFeaturesExtractor

    def extract_features(self, obs: Any, features_extractor: BaseFeaturesExtractor | None = None) -> Any:
        # (ActorCriticPolicy's takes None for its own, shared, extractor: the graph policy's always is.)
        if isinstance(obs, dict) and all(v.dtype == torch.float32 for v in obs.values()):
            return (features_extractor if features_extractor is not None else self.features_extractor)(obs)
        return super().extract_features(obs, features_extractor)  # type: ignore[misc]


class GraphQNetwork(_FloatObservations, QNetwork):
    """SB3's QNetwork with a node scorer in place of the MLP: Q(s, i) for every node i."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        config: EncoderConfig = self.features_extractor.encoder.config
        self.q_net = NodeScorer.for_encoder(config, tuple(self.net_arch))  # type: ignore[assignment]


class GraphDQNPolicy(DQNPolicy):
    """DQN policy on the graph observation. ``net_arch`` is the node scorer's hidden widths."""

    def __init__(self, observation_space: spaces.Dict, *args: Any, **kwargs: Any) -> None:
        _check_graph_space(observation_space)
        kwargs.setdefault("features_extractor_class", GraphFeaturesExtractor)
        super().__init__(observation_space, *args, **kwargs)

    def make_q_net(self) -> GraphQNetwork:
        # As SB3's make_q_net: a separate features extractor for the online and target nets.
        net_args = self._update_features_extractor(self.net_args, features_extractor=None)
        return GraphQNetwork(**net_args).to(self.device)


class _GraphLatents(nn.Module):
    """SB3's ``mlp_extractor`` slot: the actor passes the graph features through to the node
    scorer; the critic reads the graph embedding through an MLP."""

    def __init__(self, embed: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        widths = [embed, *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(a, b), nn.Tanh()]
        self.value_net = nn.Sequential(*layers)
        self.latent_dim_pi = embed  # unused by the node scorer, required by SB3's _build
        self.latent_dim_vf = widths[-1]

    def forward(self, features: GraphFeatures) -> tuple[GraphFeatures, torch.Tensor]:
        return self.forward_actor(features), self.forward_critic(features)

    def forward_actor(self, features: GraphFeatures) -> GraphFeatures:
        return features

    def forward_critic(self, features: GraphFeatures) -> torch.Tensor:
        return self.value_net(features.graph)


class GraphActorCriticPolicy(_FloatObservations, ActorCriticPolicy):
    """PPO policy on the graph observation: node-scoring logits, a value from the graph embedding.

    ``net_arch`` gives the hidden widths of the node scorer and of the value MLP (default
    ``[64]``). The encoder is shared by actor and critic.
    """

    def __init__(self, observation_space: spaces.Dict, *args: Any, **kwargs: Any) -> None:
        _check_graph_space(observation_space)
        kwargs.setdefault("features_extractor_class", GraphFeaturesExtractor)
        kwargs.setdefault("net_arch", [64])
        if kwargs.get("share_features_extractor") is False:
            raise ValueError("GraphActorCriticPolicy shares its encoder: share_features_extractor must be True")
        super().__init__(observation_space, *args, **kwargs)

    def _build_mlp_extractor(self) -> None:
        self.mlp_extractor = _GraphLatents(self.features_dim, tuple(self.net_arch))

    def _build(self, lr_schedule: Any) -> None:
        super()._build(lr_schedule)
        # SB3 built action_net as Linear(latent, n_actions): a fixed number of actions. Score
        # nodes instead, then rebuild the optimizer over the new parameters.
        self.action_net = NodeScorer.for_encoder(self.features_extractor.encoder.config, tuple(self.net_arch))
        if self.ortho_init:  # SB3's gains: sqrt(2) for hidden layers, 0.01 for the logits
            self.action_net.node_in.apply(partial(self.init_weights, gain=np.sqrt(2)))
            self.action_net.graph_in.apply(partial(self.init_weights, gain=np.sqrt(2)))
            if self.action_net.input_in is not None:
                self.action_net.input_in.apply(partial(self.init_weights, gain=np.sqrt(2)))
            self.action_net.rest.apply(partial(self.init_weights, gain=np.sqrt(2)))
            self.action_net.out.apply(partial(self.init_weights, gain=0.01))
        self.optimizer = self.optimizer_class(  # type: ignore[call-arg]
            self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs
        )

    def _get_action_dist_from_latent(self, latent_pi: GraphFeatures) -> CategoricalDistribution:  # type: ignore[override]
        # SB3's Categorical, without torch.distributions' argument checks (logits finite, actions
        # in range): the node scorer's logits are finite by construction (padded nodes get the
        # lowest float, not -inf) and the actions come from this distribution. The checks change
        # no number; they cost a few small tensor operations per pass, in acting and learning.
        distribution = self.action_dist
        assert isinstance(distribution, CategoricalDistribution)
        distribution.distribution = torch.distributions.Categorical(logits=self.action_net(latent_pi),
                                                                    validate_args=False)
        return distribution
