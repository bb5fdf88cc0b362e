"""edge_rl: graph-based reinforcement learning for IoT edge task placement.

The parts, each a subpackage: ``envs`` (the network, the environment, the fixed rules), ``nn``
(graph encoders, node-scoring heads, fusions, Stable-Baselines3 plug-ins), ``agents`` (the
Agent contract, the DQN/PPO baselines, the hybrid), ``experiments`` (runs, suites, studies,
tables, the model card) and ``serve`` (the API and the dashboard). ``config`` holds every
default; ``registry`` every extension axis (layer kinds, fusions, algorithms). What ``experiments``
and ``serve`` share lies below both, so that serving never imports the study pipeline:
``catalogue`` (every variant of trained model, its names and its run's config), ``stats`` (the
interquartile mean and its intervals) and ``palette`` (each policy's colour).

Importing the package registers the environment ``edge_rl/IoTEdge-v0`` with Gymnasium
(``gymnasium.make`` and, vectorised, ``gymnasium.make_vec``).
"""

from __future__ import annotations

import gymnasium as gym

from edge_rl.config import EnvConfig, LinkSpec, NodeTypeSpec
from edge_rl.envs import IoTEdgeEnv, make_env

ENV_ID = "edge_rl/IoTEdge-v0"
EPISODE_STEPS = 100  # the card's episode length

if ENV_ID not in gym.registry:
    gym.register(id=ENV_ID, entry_point="edge_rl.envs.iot_edge:IoTEdgeEnv", max_episode_steps=EPISODE_STEPS,
                 vector_entry_point="edge_rl.envs.vector:IoTEdgeVectorEnv")

__all__ = ["ENV_ID", "EPISODE_STEPS", "EnvConfig", "IoTEdgeEnv", "LinkSpec", "NodeTypeSpec", "make_env"]
__version__ = "0.1.0"
