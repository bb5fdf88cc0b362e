"""The hybrid DQN-PPO agent: its network (:mod:`~edge_rl.agents.hybrid.network`), its losses
(:mod:`~edge_rl.agents.hybrid.losses`), its designs (:mod:`~edge_rl.agents.hybrid.designs`), its
training loop (:mod:`~edge_rl.agents.hybrid.training`) and the heads table
(:mod:`~edge_rl.agents.hybrid.heads`)."""

from edge_rl.agents.hybrid.designs import Card, Design, Distill, Separated, design_for
from edge_rl.agents.hybrid.heads import heads_table
from edge_rl.agents.hybrid.losses import bootstrap_time_limits, ppo_loss, td_targets
from edge_rl.agents.hybrid.network import HybridNetwork, HybridOutput, warm_start
from edge_rl.agents.hybrid.training import HybridAgent, pretrain, pretrain_config, train_hybrid

__all__ = [
    "Card",
    "Design",
    "Distill",
    "HybridAgent",
    "HybridNetwork",
    "HybridOutput",
    "Separated",
    "bootstrap_time_limits",
    "design_for",
    "heads_table",
    "ppo_loss",
    "pretrain",
    "pretrain_config",
    "td_targets",
    "train_hybrid",
    "warm_start",
]
