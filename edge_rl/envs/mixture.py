"""Training on more than one network or load: each episode on one of several environments.

:class:`EnvMixture` draws, at every reset, which of its :class:`~edge_rl.envs.IoTEdgeEnv`
configurations the episode runs on, and the episode's seed, both from its own ``np_random``:
the same seed gives the same sequence of networks and episodes. Every configuration must pad
its observations to the same number of node slots (``max_nodes``), so that one observation
space holds them all; a graph policy reads ``node_mask`` and never chooses a padding slot.
``TrainConfig.env_mix`` trains on one (:func:`make_training_env`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from edge_rl.config import EnvConfig
from edge_rl.envs.iot_edge import IoTEdgeEnv, make_env


class EnvMixture(gym.Env[dict[str, np.ndarray], int]):
    """Each episode on one of ``configs``, drawn uniformly at reset.

    Args:
        configs: the environments; all with the same ``padded_nodes`` (set ``max_nodes``).
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, configs: Sequence[EnvConfig]) -> None:
        if not configs:
            raise ValueError("an environment mixture needs at least one EnvConfig")
        slots = sorted({config.padded_nodes for config in configs})
        if len(slots) != 1:
            raise ValueError(f"every environment of a mixture must pad to the same number of node slots "
                             f"(max_nodes); these pad to {slots}: set max_nodes={max(slots)} on each")
        self.envs = [IoTEdgeEnv(config) for config in configs]
        self.observation_space = self.envs[0].observation_space
        self.action_space = self.envs[0].action_space
        self.current = self.envs[0]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        self.current = self.envs[int(self.np_random.integers(len(self.envs)))]
        return self.current.reset(seed=int(self.np_random.integers(2**31 - 1)), options=options)

    def step(self, action: int | np.integer | np.ndarray
             ) -> tuple[dict[str, np.ndarray], SupportsFloat, bool, bool, dict[str, Any]]:
        return self.current.step(action)

    def action_masks(self) -> np.ndarray:
        return self.current.action_masks()


def make_training_env(config: EnvConfig, mix: Sequence[EnvConfig] = (), *, flat: bool = False) -> gym.Env:
    """The environment a run trains on: ``config`` (:func:`~edge_rl.envs.make_env`), or, with
    ``mix``, an :class:`EnvMixture` of those, with the registered environment's time limit."""
    if not mix:
        return make_env(config, flat=flat)
    if flat:
        raise ValueError("an environment mixture needs a graph policy (policy='gnn'): its networks differ in size")
    steps = gym.spec("edge_rl/IoTEdge-v0").max_episode_steps  # the card's 100, registered by edge_rl
    return gym.wrappers.TimeLimit(EnvMixture(mix), max_episode_steps=steps)
