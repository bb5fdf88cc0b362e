"""Fixed placement rules, with the ``predict`` interface of Stable-Baselines3 models.

Each policy reads only the observation (and, where it needs capacities to turn the observation
back into milliseconds, the :class:`~edge_rl.config.EnvConfig` it was built for), so it can run
anywhere a trained model runs. ``predict`` takes one observation or a batch (a leading axis on
every array) and returns ``(actions, state)`` like SB3.

Rules that offload (round-robin, least-loaded, nearest, all-cloud) choose among the *servers*,
fog and cloud nodes, as the edge-computing literature defines them; random and greedy
earliest-finish choose among every node, the task's own sensor included.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from edge_rl.config import EnvConfig
from edge_rl.envs.observation import BANDWIDTH_SCALE_MBPS, LATENCY_SCALE_MS
from edge_rl.registry import HEURISTICS  # the rules below, by name (re-exported here)

Observation = dict[str, np.ndarray]

# Column indices of the ``nodes`` observation.
MEM_UTIL, LATENCY, BANDWIDTH, QUEUE_LEN, NODE_TYPE = 1, 3, 4, 5, 6


class HeuristicPolicy:
    """Base class: choose the allowed node with the lowest :meth:`scores` (first one on ties)."""

    name = "heuristic"
    servers_only = False
    cost = "cost"
    """What :meth:`scores` measures, e.g. ``queue_len (steps)`` (the API shows it)."""

    def __init__(self, config: EnvConfig | None = None) -> None:
        self.config = config if config is not None else EnvConfig()

    def scores(self, obs: Observation) -> np.ndarray:
        """Cost of each node, shape ``(B, max_nodes)``; lower is better."""
        raise NotImplementedError

    def allowed(self, obs: Observation) -> np.ndarray:
        """Nodes this rule may choose, boolean ``(B, max_nodes)``."""
        mask = obs["node_mask"] > 0.5
        if self.servers_only:
            mask &= obs["nodes"][..., NODE_TYPE] > 0.5
        return mask

    def reset(self, seed: int | Sequence[int] | None = None) -> None:
        """Called by :func:`edge_rl.evaluation.evaluate` before the episodes, with their seeds
        (one per episode of the batch), or with one seed for a lone episode."""

    def predict(
        self,
        observation: Observation,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]:
        obs, single = _batched(observation)
        allowed = self.allowed(obs)
        if not allowed.any(axis=-1).all():
            raise ValueError(
                f"{self.name}: an observation has no node this rule may choose "
                f"({'no fog or cloud node' if self.servers_only else 'node_mask is all zero'})"
            )
        actions = np.where(allowed, self.scores(obs), np.inf).argmin(axis=-1)
        return (actions[0] if single else actions), state


class RandomPolicy(HeuristicPolicy):
    """A node drawn uniformly among the real nodes."""

    name = "random"
    cost = "random draw"

    def __init__(self, config: EnvConfig | None = None, seed: int = 0) -> None:
        super().__init__(config)
        self.reset(seed)

    def reset(self, seed: int | Sequence[int] | None = None) -> None:
        # One generator per episode: an episode's draws do not depend on what runs beside it.
        seeds = list(seed) if isinstance(seed, Sequence) else [seed]
        self._rngs = [np.random.default_rng(s) for s in seeds]

    def scores(self, obs: Observation) -> np.ndarray:
        shape = obs["node_mask"].shape
        if len(self._rngs) == 1:  # one stream for the whole batch
            return self._rngs[0].random(shape)
        if len(self._rngs) != shape[0]:
            raise ValueError(f"random was reset for {len(self._rngs)} episodes, but is asked for {shape[0]}")
        return np.stack([rng.random(shape[1:]) for rng in self._rngs])


class RoundRobinPolicy(HeuristicPolicy):
    """The servers in turn, in index order; the position is carried in ``state``."""

    name = "round_robin"
    cost = "turns until the node's turn"
    servers_only = True

    def predict(
        self,
        observation: Observation,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]:
        obs, single = _batched(observation)
        allowed = self.allowed(obs)
        batch, slots = allowed.shape
        position = np.zeros(batch, dtype=np.int64) if state is None else np.asarray(state)
        if episode_start is not None:
            position = np.where(np.asarray(episode_start, dtype=bool), 0, position)
        # The first allowed node at or after the current position, cyclically.
        order = (np.arange(slots)[None, :] - position[:, None]) % slots
        actions = np.where(allowed, order, slots).argmin(axis=-1)
        next_position = (actions + 1) % slots
        return (actions[0] if single else actions), next_position


class LeastLoadedPolicy(HeuristicPolicy):
    """The server with the shortest queue (``queue_len``, in steps of its own compute)."""

    name = "least_loaded"
    cost = "queue_len (steps)"
    servers_only = True

    def scores(self, obs: Observation) -> np.ndarray:
        return obs["nodes"][..., QUEUE_LEN]


class NearestPolicy(HeuristicPolicy):
    """The server nearest the task's source (lowest network latency, access-link wait included)."""

    name = "nearest"
    cost = "latency (observation units: ms / 100)"
    servers_only = True

    def scores(self, obs: Observation) -> np.ndarray:
        return obs["nodes"][..., LATENCY]


class AllCloudPolicy(HeuristicPolicy):
    """Always the cloud (the nearest one if there are several)."""

    name = "all_cloud"
    cost = "latency (observation units: ms / 100)"

    def allowed(self, obs: Observation) -> np.ndarray:
        return (obs["node_mask"] > 0.5) & (obs["nodes"][..., NODE_TYPE] > 1.5)

    def scores(self, obs: Observation) -> np.ndarray:
        return obs["nodes"][..., LATENCY]


class GreedyEarliestFinishPolicy(HeuristicPolicy):
    """The node where the task would finish first, by the environment's own latency model.

    Estimated from the observation: transfer (network latency + input size / bandwidth, zero at
    the source) + waiting (``queue_len`` steps) + execution (demand / the node type's MIPS).
    Nodes whose free memory is too small for the task are skipped. It ignores energy and the
    future: it is the myopic latency-optimal rule.
    """

    name = "greedy_earliest_finish"
    cost = "estimated finish time (ms)"

    def __init__(self, config: EnvConfig | None = None) -> None:
        super().__init__(config)
        cfg = self.config
        self._mips = np.array([cfg.node_type_spec(t).mips for t in range(3)])
        self._memory_mb = np.array([cfg.node_type_spec(t).memory_mb for t in range(3)])

    def scores(self, obs: Observation) -> np.ndarray:
        cfg, nodes, task = self.config, obs["nodes"], obs["task"]
        node_type = np.rint(nodes[..., NODE_TYPE]).astype(np.int64)
        demand_mi = task[..., 0:1] * cfg.demand_mi[1]
        input_mbit = task[..., 1:2] * cfg.input_kb[1] * 8.0 / 1000.0
        memory_mb = task[..., 2:3] * cfg.memory_mb[1]
        latency_ms = nodes[..., LATENCY] * LATENCY_SCALE_MS
        at_source = latency_ms == 0.0
        bandwidth = nodes[..., BANDWIDTH] * BANDWIDTH_SCALE_MBPS
        transfer = np.where(at_source, 0.0, latency_ms + 1000.0 * input_mbit / bandwidth)
        mips = self._mips[node_type]
        finish = transfer + nodes[..., QUEUE_LEN] * cfg.step_ms + 1000.0 * demand_mi / mips
        free_mb = (1.0 - nodes[..., MEM_UTIL]) * self._memory_mb[node_type]
        return np.where(free_mb >= memory_mb, finish, np.inf)

    def allowed(self, obs: Observation) -> np.ndarray:
        # If the task fits nowhere, any real node will do (argmin of all-inf picks the first).
        return obs["node_mask"] > 0.5


def make_heuristic(name: str, config: EnvConfig | None = None) -> HeuristicPolicy:
    """The heuristic called ``name`` (one of :data:`~edge_rl.registry.HEURISTICS`)."""
    if name not in HEURISTICS:
        raise ValueError(f"unknown heuristic {name!r}; accepted: {sorted(HEURISTICS)}")
    return HEURISTICS.get(name)(config)


def _batched(observation: Observation) -> tuple[Observation, bool]:
    """Add a batch axis to a single observation; say whether one was added."""
    if not isinstance(observation, Mapping) or not {"nodes", "node_mask", "task"} <= set(observation):
        raise ValueError(
            "observation must be the dict of edge_rl/IoTEdge-v0 (keys nodes, adjacency, "
            f"node_mask, task), got {type(observation).__name__}; heuristics do not read the "
            "flattened vector"
        )
    single = np.ndim(observation["nodes"]) == 2
    if single:
        return {key: np.asarray(value)[None] for key, value in observation.items()}, True
    return {key: np.asarray(value) for key, value in observation.items()}, False
