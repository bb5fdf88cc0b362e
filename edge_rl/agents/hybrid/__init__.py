"""The hybrid DQN-PPO agent: its spec (:mod:`~edge_rl.agents.hybrid.spec`: what configs and the
CLI know of it, torch-free), its network (:mod:`~edge_rl.agents.hybrid.network`), its losses
(:mod:`~edge_rl.agents.hybrid.losses`), its designs (:mod:`~edge_rl.agents.hybrid.designs`), its
training loop (:mod:`~edge_rl.agents.hybrid.training`) and the heads table
(:mod:`~edge_rl.agents.hybrid.heads`).

The names below are imported on first use, so that reading the spec imports no torch."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edge_rl.registry import lazy_exports

if TYPE_CHECKING:
    from edge_rl.agents.hybrid.designs import Card, Design, Distill, Separated, design_for
    from edge_rl.agents.hybrid.heads import heads_table
    from edge_rl.agents.hybrid.losses import bootstrap_time_limits, ppo_loss, td_targets
    from edge_rl.agents.hybrid.network import HybridNetwork, HybridOutput, warm_start
    from edge_rl.agents.hybrid.training import HybridAgent, pretrain, pretrain_config, train_hybrid

_MODULES = {
    "designs": ("Card", "Design", "Distill", "Separated", "design_for"),
    "heads": ("heads_table",),
    "losses": ("bootstrap_time_limits", "ppo_loss", "td_targets"),
    "network": ("HybridNetwork", "HybridOutput", "warm_start"),
    "training": ("HybridAgent", "pretrain", "pretrain_config", "train_hybrid"),
}

__all__ = sorted(name for names in _MODULES.values() for name in names)
__getattr__ = lazy_exports(__name__, _MODULES)
