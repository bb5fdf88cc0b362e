"""The agents: one contract (:class:`~edge_rl.agents.base.Agent`), the DQN and PPO baselines on
Stable-Baselines3 (:mod:`~edge_rl.agents.baselines`), the hybrid DQN-PPO agent
(:mod:`~edge_rl.agents.hybrid`), and their checkpoints (:mod:`~edge_rl.agents.checkpoint`).

``load(path)`` reads any saved agent; ``train(config, path)`` trains the one ``config.algo``
names (:data:`edge_rl.registry.ALGORITHMS`).

The names below are imported on first use: importing this package, or a torch-free module in it
(an algorithm's spec, which config validation reads), imports no torch."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edge_rl.registry import lazy_exports

if TYPE_CHECKING:
    from edge_rl.agents.base import Agent, Observation, algorithm, load, rollout_steps, train
    from edge_rl.agents.checkpoint import CheckpointError

_MODULES = {
    "base": ("Agent", "Observation", "algorithm", "load", "rollout_steps", "train"),
    "checkpoint": ("CheckpointError",),
}

__all__ = sorted(name for names in _MODULES.values() for name in names)
__getattr__ = lazy_exports(__name__, _MODULES)
