"""The agents: one contract (:class:`~edge_rl.agents.base.Agent`), the DQN and PPO baselines on
Stable-Baselines3 (:mod:`~edge_rl.agents.baselines`), the hybrid DQN-PPO agent
(:mod:`~edge_rl.agents.hybrid`), and their checkpoints (:mod:`~edge_rl.agents.checkpoint`).

``load(path)`` reads any saved agent; ``train(config, path)`` trains the one ``config.algo``
names (:data:`edge_rl.registry.ALGORITHMS`)."""

from edge_rl.agents.base import Agent, Observation, algorithm, load, rollout_steps, train
from edge_rl.agents.checkpoint import CheckpointError

__all__ = ["Agent", "CheckpointError", "Observation", "algorithm", "load", "rollout_steps", "train"]
