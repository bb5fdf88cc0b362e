"""``edge_rl/IoTEdge-v0`` vectorised: many episodes of the same network stepped together.

:class:`IoTEdgeVectorEnv` is to :class:`~edge_rl.envs.iot_edge.IoTEdgeEnv` what Gymnasium's
``CartPoleVectorEnv`` is to ``CartPoleEnv``: the same dynamics on arrays with a leading
episode axis, so that a policy scores every running episode in one batched call and the
simulator advances them all in one set of array operations. ``gymnasium.make_vec(
"edge_rl/IoTEdge-v0", num_envs=B)`` builds it.

The dynamics are the lone environment's own, :mod:`edge_rl.envs.dynamics` (which steps it as a
batch of one), and so is the observation (:mod:`edge_rl.envs.observation`). Each episode draws
from its own generator, seeded as ``IoTEdgeEnv.reset(seed=...)`` seeds its own: an episode gives
the same observations, rewards and ``info`` as ``IoTEdgeEnv`` on the same seed, bit for bit
(``tests/test_vector_env.py`` checks it).

Autoreset: Gymnasium's default, next step (``metadata["autoreset_mode"]``): the step after an
episode ends resets it, continuing its generator, and ignores its action.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from edge_rl.config import EnvConfig
from edge_rl.envs.iot_edge import IoTEdgeEnv
from edge_rl.envs.state import INFO_KEYS, RawState

__all__ = ["INFO_KEYS", "IoTEdgeVectorEnv"]


class IoTEdgeVectorEnv(VectorEnv):
    """``num_envs`` episodes of :class:`~edge_rl.envs.iot_edge.IoTEdgeEnv` side by side.

    Args:
        num_envs: episodes stepped together.
        config: the environment (the card's network by default); ``overrides`` change its fields.
        max_episode_steps: an episode's length (the time limit; the card's 100).
    """

    metadata: dict[str, Any] = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int = 1, config: EnvConfig | None = None, max_episode_steps: int = 100,
                 **overrides: Any) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        if isinstance(max_episode_steps, bool) or not isinstance(max_episode_steps, int) or max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be an integer >= 1, got {max_episode_steps!r}")
        self.single = IoTEdgeEnv(config, **overrides)  # its simulator and encoder serve every episode here
        self.simulator, self.encoder = self.single.simulator, self.single.encoder
        self.config, self.topology = self.single.config, self.single.topology
        self.num_envs, self.max_episode_steps = num_envs, max_episode_steps
        self.n_nodes, self.max_nodes = self.single.n_nodes, self.single.max_nodes
        self.single_observation_space = self.single.observation_space
        self.single_action_space = self.single.action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._rngs: list[np.random.Generator] | None = None
        self._state = self.simulator.new_state(num_envs)
        self._steps = np.zeros(num_envs, dtype=np.int64)
        self._done = np.zeros(num_envs, dtype=bool)

    # ------------------------------------------------------------------ gymnasium API

    def reset(self, *, seed: int | list[int | None] | None = None,
              options: dict[str, Any] | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Start every episode: ``seed`` an int (episode ``i`` gets ``seed + i``, as Gymnasium's
        vector environments do) or one seed per episode."""
        if options:
            raise ValueError(f"IoTEdgeVectorEnv.reset accepts no options, got {sorted(options)}")
        seeds = seed if isinstance(seed, (list, tuple)) else [None if seed is None else seed + i
                                                              for i in range(self.num_envs)]
        if len(seeds) != self.num_envs:
            raise ValueError(f"reset needs one seed per episode ({self.num_envs}), got {len(seeds)}")
        # The generator IoTEdgeEnv.reset(seed=s) would make (gymnasium.Env.reset's).
        self._rngs = [seeding.np_random(s)[0] for s in seeds]
        self.simulator.start(self._state, self._rngs)
        self._steps[:], self._done[:] = 0, False
        return self.encoder(self._state), {}

    def step(self, actions: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray,
                                                  dict[str, np.ndarray]]:
        if self._rngs is None:
            raise RuntimeError("call reset() before step()")
        nodes = np.asarray(actions).reshape(-1)
        restart = self._done  # next-step autoreset: these episodes start again, their action unused
        if not restart.any():
            self._check(nodes)
            rewards, info = self.simulator.step(self._state, nodes, self._rngs)
            if self.num_envs == 1:  # a batch of one reports Python scalars (dynamics.episodes)
                rewards, info = np.array([rewards]), {key: np.array([value]) for key, value in info.items()}
            self._steps += 1
        else:
            rewards, info = self._step_some(nodes, np.flatnonzero(~restart), np.flatnonzero(restart))
        truncated = self._steps >= self.max_episode_steps
        self._done = truncated.copy()
        return self.encoder(self._state), rewards, np.zeros(self.num_envs, dtype=bool), truncated, info

    def _step_some(self, nodes: np.ndarray, live: np.ndarray, restart: np.ndarray
                   ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """A step in which episodes ``restart`` start again: the others are stepped on a copy of
        their rows; the restarted ones report a reward of 0 and an ``info`` of zeros."""
        self._check(nodes, live)
        rewards = np.zeros(self.num_envs)
        info = {key: np.zeros(self.num_envs, dtype=bool if key in ("deadline_met", "dropped")
                              else np.int64 if key in ("node", "node_type") else np.float64) for key in INFO_KEYS}
        if live.size:
            running = self._state.take(live)
            rewards[live], placed = self.simulator.step(running, nodes[live], [self._rngs[i] for i in live])
            self._state.put(live, running)
            for key, value in placed.items():
                info[key][live] = value
            self._steps[live] += 1
        fresh = self.simulator.new_state(restart.size)
        self.simulator.start(fresh, [self._rngs[i] for i in restart])
        self._state.put(restart, fresh)
        self._steps[restart] = 0
        return rewards, info

    def action_masks(self) -> np.ndarray:
        """Boolean ``(num_envs, max_nodes)``: True for the nodes a task may be placed on."""
        return np.broadcast_to(self.single.action_masks(), (self.num_envs, self.max_nodes)).copy()

    def raw_state(self, index: int) -> RawState:
        """Episode ``index``'s simulator state in raw units, with its current task."""
        return self.simulator.raw_state(self._state, index)

    def _check(self, nodes: np.ndarray, live: np.ndarray | None = None) -> None:
        """Every action of the episodes ``live`` (all by default) must be a node index."""
        valid = nodes.shape == (self.num_envs,) and np.issubdtype(nodes.dtype, np.integer)
        if valid:
            chosen = nodes if live is None else nodes[live]
            valid = bool(np.all((chosen >= 0) & (chosen < self.n_nodes)))
        if not valid:
            raise ValueError(f"actions must be {self.num_envs} node indices, integers in [0, {self.n_nodes - 1}] "
                             f"(see action_masks()), got {nodes!r}")

    # ------------------------------------------------------------------ what-if, for the bounds

    def fork(self, index: np.ndarray, rngs: list[np.random.Generator]) -> IoTEdgeVectorEnv:
        """A new vector environment whose episodes are copies of episodes ``index`` (a row may
        repeat), each drawing its future from the matching generator of ``rngs``: copies of this
        one's generators for the true future, others for a sampled one. Nothing here changes."""
        index = np.asarray(index, dtype=np.intp)
        if len(rngs) != len(index):
            raise ValueError(f"fork needs one generator per copied episode ({len(index)}), got {len(rngs)}")
        twin = copy.copy(self)  # the constants are shared, the state is copied below
        twin.num_envs, twin._rngs = len(index), list(rngs)
        twin._state = self._state.take(index)
        twin._steps, twin._done = self._steps[index].copy(), self._done[index].copy()
        twin.observation_space = batch_space(self.single_observation_space, len(index))
        twin.action_space = batch_space(self.single_action_space, len(index))
        return twin

    def immediate_rewards(self) -> np.ndarray:
        """``(num_envs, n_nodes)``: the reward placing each episode's current task on each node
        would give now (placing draws no random number: it is exact). Nothing here changes."""
        copies = self._state.take(np.repeat(np.arange(self.num_envs), self.n_nodes))
        rewards, _ = self.simulator.place(copies, np.tile(np.arange(self.n_nodes), self.num_envs))
        return np.reshape(rewards, (self.num_envs, self.n_nodes))

    def observation(self) -> dict[str, np.ndarray]:
        """The current observation of every episode (what the last ``reset`` or ``step`` returned)."""
        return self.encoder(self._state)

    @property
    def generators(self) -> list[np.random.Generator]:
        """Each episode's generator (its future's arrivals and tasks): what only a bound may read."""
        if self._rngs is None:
            raise RuntimeError("call reset() first")
        return self._rngs

    @property
    def episode_steps(self) -> np.ndarray:
        """How many steps each episode has taken."""
        return self._steps.copy()
