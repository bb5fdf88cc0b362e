"""The hybrid DQN-PPO agent: its network (:mod:`~edge_rl.agents.hybrid.network`), its losses
(:mod:`~edge_rl.agents.hybrid.losses`) and its training loop (:mod:`~edge_rl.agents.hybrid.training`)."""

from edge_rl.agents.hybrid.losses import bootstrap_time_limits, ppo_loss, td_targets
from edge_rl.agents.hybrid.network import HybridNetwork, HybridOutput, warm_start
from edge_rl.agents.hybrid.training import HybridAgent, pretrain, pretrain_config, train_hybrid

__all__ = ["HybridAgent", "HybridNetwork", "HybridOutput", "bootstrap_time_limits", "ppo_loss", "pretrain",
           "pretrain_config", "td_targets", "train_hybrid", "warm_start"]
