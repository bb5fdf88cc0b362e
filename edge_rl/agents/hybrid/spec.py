"""The hybrid's spec (:class:`~edge_rl.config.algorithms.AlgorithmSpec`): what the configs, the CLI
and the experiments know of the hybrid without importing torch.

By the card's procedure it pre-trains DQN-GNN and PPO-GNN (``pretrain_steps``, 10,000 each: so
it reads the ``dqn`` and ``ppo`` sections only then) and fine-tunes for 5,000 steps; from
scratch it reads its own section alone. It is always a graph policy: its heads share one graph
encoder. Its run names carry its encoder, its fusion and any design other than the card's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from edge_rl.config.algorithms import AlgorithmSpec

if TYPE_CHECKING:
    from edge_rl.config.train import TrainConfig

WEIGHTS = ("q_weight", "policy_weight")
"""The weights of the ``weighted_sum`` fusion: unread with any other fusion."""


@dataclass(frozen=True)
class HybridSpec(AlgorithmSpec):
    """The hybrid's part in configs and runs (see the module's docstring)."""

    def unread_field(self, config: TrainConfig, key: str) -> str | None:
        section, _, field = key.partition(".")
        if section not in self.sections:  # dqn / ppo settings, read whenever their section is
            return None
        if field in WEIGHTS and config.hybrid.fusion != "weighted_sum":
            return f"the weights apply to --fusion weighted_sum, not {config.hybrid.fusion}"
        if field.startswith("distill_") and config.hybrid.design != "distill":
            return f"distill settings apply to hybrid.design=distill, not {config.hybrid.design}"
        return None

    def name(self, config: TrainConfig) -> str:
        # The card's design unnamed, so its runs keep the names they had before designs existed.
        design = "" if config.hybrid.design == "card" else f"-{config.hybrid.design}"
        return f"{config.algo}-{config.encoder.label}-{config.hybrid.fusion}{design}"

    def label(self, config: TrainConfig, encoder: bool) -> str:
        return f"Hybrid {config.encoder.kind.upper()}"  # its encoder always: the hybrids' tables compare encoders

    def last_weights(self, config: TrainConfig) -> TrainConfig:
        return replace(config, hybrid=replace(config.hybrid, select_best=False))


HYBRID = HybridSpec(agent="edge_rl.agents.hybrid.training:HybridAgent", sections=("hybrid",),
                    pretrain_sections=("dqn", "ppo"), pretrains=True, default_steps=5_000,
                    default_pretrain_steps=10_000, graph_only="it shares a graph encoder", rollout_section="hybrid")
"""The hybrid DQN-PPO agent (:mod:`edge_rl.agents.hybrid`)."""
