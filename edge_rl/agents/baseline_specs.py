"""The DQN and PPO baselines' specs (:class:`~edge_rl.config.algorithms.AlgorithmSpec`): what the
configs, the CLI and the experiments know of them without importing Stable-Baselines3 or torch.
Both train :class:`~edge_rl.agents.baselines.BaselineAgent`, on the flat or the graph observation,
for the card's 10,000 steps; each reads its own section."""

from __future__ import annotations

from edge_rl.config.algorithms import AlgorithmSpec

_AGENT = "edge_rl.agents.baselines:BaselineAgent"

DQN = AlgorithmSpec(agent=_AGENT, sections=("dqn",))
"""SB3's DQN: reads ``TrainConfig.dqn``; no rollouts (a replay buffer)."""

PPO = AlgorithmSpec(agent=_AGENT, sections=("ppo",), rollout_section="ppo")
"""SB3's PPO: reads ``TrainConfig.ppo``; collects whole rollouts of ``ppo.n_envs x ppo.n_steps``."""
