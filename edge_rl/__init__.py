"""edge_rl: graph-based reinforcement learning for IoT edge task placement.

Importing the package registers the environment ``edge_rl/IoTEdge-v0`` with Gymnasium.
"""

from __future__ import annotations

import gymnasium as gym

from edge_rl.config import EnvConfig, LinkSpec, NodeTypeSpec
from edge_rl.env import IoTEdgeEnv, make_env

ENV_ID = "edge_rl/IoTEdge-v0"
EPISODE_STEPS = 100  # the card's episode length

if ENV_ID not in gym.registry:
    gym.register(id=ENV_ID, entry_point="edge_rl.env:IoTEdgeEnv", max_episode_steps=EPISODE_STEPS)

__all__ = ["ENV_ID", "EPISODE_STEPS", "EnvConfig", "IoTEdgeEnv", "LinkSpec", "NodeTypeSpec", "make_env"]
__version__ = "0.1.0"
