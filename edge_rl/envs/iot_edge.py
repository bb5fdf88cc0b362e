"""The IoT edge task-placement environment, ``edge_rl/IoTEdge-v0``.

The Gymnasium interface of one episode. Its dynamics are :mod:`edge_rl.envs.dynamics` on a batch
of one and its observation :mod:`edge_rl.envs.observation`, the code the vectorised environment
and the server run too.
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from edge_rl.config import EnvConfig
from edge_rl.envs.dynamics import Simulator
from edge_rl.envs.observation import (  # the scales too: imported from here before issue 29
    BANDWIDTH_SCALE_MBPS,
    ENERGY_CAP,
    ENERGY_SCALE_J,
    LATENCY_CAP,
    LATENCY_SCALE_MS,
    NODE_FEATURE_HIGH,
    QUEUE_CAP_STEPS,
    ObservationEncoder,
    observation_space,
)
from edge_rl.envs.state import RawState, SimState
from edge_rl.envs.topology import Topology

__all__ = ["BANDWIDTH_SCALE_MBPS", "ENERGY_CAP", "ENERGY_SCALE_J", "LATENCY_CAP", "LATENCY_SCALE_MS", "NODE_FEATURE_HIGH",
           "QUEUE_CAP_STEPS", "IoTEdgeEnv", "make_env"]


class IoTEdgeEnv(gym.Env[dict[str, np.ndarray], int]):
    """Place each arriving IoT task on a node of a sensor / fog / cloud network.

    ## Description

    A reconstruction: the original system's environment was never published, so every
    quantity below is our own design, built on the numbers of the original that are known
    (capacities, links, power, the Poisson rate, episode length, reward weights; see
    :mod:`edge_rl.config`). Time advances in steps of ``step_ms`` (100 ms). At each step one
    task arrives at a sensor (drawn uniformly) and the agent chooses the node that runs it.
    Every node runs a FIFO queue of work (in MI) that drains at its capacity, and has an access
    link whose queue (in Mbit) drains at ``ingress_mbps``. Background work from other users
    arrives as a Poisson process, so queues, memory and links change over time; its rate can be
    scaled (``load_scale``) or follow a real data-centre trace (``load_trace``,
    :mod:`edge_rl.envs.traces`).

    A task has a compute demand ``D`` (MI, log-uniform in ``demand_mi``), an input size ``S``
    (KB, log-uniform in ``input_kb``), a memory need ``M`` (MB, uniform in ``memory_mb``) and a
    deadline ``T`` (ms, log-uniform in ``deadline_ms``). Placing it from source ``s`` on node
    ``n`` gives, with ``b = 8 S / 1000`` Mbit:

    - transfer ``= 0`` if ``n == s``, else ``path_latency(s, n) + 1000 * ingress_queue(n) /
      ingress_mbps(n) + 1000 * b / min(path_bandwidth(s, n), ingress_mbps(n))`` ms
      (lowest-latency path, its narrowest link, and the wait behind data already queued on
      ``n``'s access link);
    - waiting ``= 1000 * backlog(n) / mips(n)`` ms and execution ``= 1000 * D / mips(n)`` ms;
    - latency ``= transfer + waiting + execution``; the deadline is met if latency ``<= T``;
    - energy ``= busy_power(n) * execution / 1000 + tx_energy_j_per_mb * (S / 1000) *
      hops(s, n)`` J.

    If ``M`` exceeds the node's free memory the task is dropped: it misses its deadline, its
    latency counts as ``transfer + latency_cap * T`` and its energy is the transmission only.

    The trade-off: the cloud computes 14x faster than a fog node and uses the least energy per
    MI, but it is the farthest and its shared WAN link (40 Mbit/s, 40 % busy with other traffic)
    saturates if every task goes there; fog nodes are near but their queues fill up; a sensor
    is slow (100 MIPS) and has little memory, but a task that stays there is not transferred.

    ## Action Space

    ``Discrete(max_nodes)``: the index of the node that runs the current task. Nodes are
    numbered sensors first, then fog nodes, then clouds. Slots past the real nodes are padding;
    choosing one raises ``ValueError``. :meth:`action_masks` gives the valid actions.

    ## Observation Space

    A ``Dict`` with

    - ``nodes``: ``(max_nodes, 7)`` float32, one row per node, columns in the card's order:

      | col | feature    | meaning (raw unit)                                               | range    |
      |-----|------------|------------------------------------------------------------------|----------|
      | 0   | cpu_util   | fraction of the last step the node's CPU was busy                | [0, 1]   |
      | 1   | mem_util   | memory in use / capacity                                         | [0, 1]   |
      | 2   | energy     | energy to run the current task there (J) / 10                    | [0, 10]  |
      | 3   | latency    | path latency + access-link wait from the task's source (ms) / 100 | [0, 10]  |
      | 4   | bandwidth  | min(path bandwidth, access link) from the source (Mbit/s) / 200; 1 at the source | [0, 1] |
      | 5   | queue_len  | queued work in steps of the node's compute (backlog / (mips * step)) | [0, 20] |
      | 6   | node_type  | 0 sensor, 1 fog, 2 cloud                                         | {0,1,2}  |

      Values beyond a cap are clipped. ``queue_len`` is measured in steps of work rather than
      in tasks (the card's unit) because nodes differ 400-fold in speed: a count of tasks
      would not say how long a new one waits.
    - ``adjacency``: ``(max_nodes, max_nodes)`` float32, 1 where a link joins two nodes.
    - ``node_mask``: ``(max_nodes,)`` float32, 1 for real nodes, 0 for padding.
    - ``task``: ``(4,)`` float32, ``[D, S, M, T]`` each divided by the upper bound of its
      distribution, in ``[0, 1]``.

    Padding rows are zero. Raw units are in ``info`` (``info["task"]`` at reset and each step).

    ## Rewards

    ``r = w_deadline * met - w_latency * min(latency / T, latency_cap) - w_energy * e
    + w_balance * balance`` with the card's weights 2.0, 1.0, 0.5, 0.3, where

    - ``met`` is 1 if the deadline is met, else 0;
    - ``latency_cap`` (4) bounds the penalty of a hopeless placement;
    - ``e`` is the task's energy divided by the largest energy any node would have used for it
      (in ``[0, 1]``, so energy weighs the same for small and large tasks);
    - ``balance = (sum q)^2 / (K * sum q^2)`` is Jain's fairness index of ``q_n = backlog_n /
      (mips_n * step)``, the work queued on each of the ``K`` servers (fog and cloud nodes)
      right after placement, in steps of that server's compute: 1 when every server has the
      same backlog (or none has any), ``1/K`` when one server holds it all.

    A step's reward therefore lies in ``[-4.5, 2.3]``.

    ## Starting State

    Queues start empty and background work runs for ``warmup_steps`` (20) steps before the
    first task, so the first observation already shows a loaded network.

    ## Episode End

    The environment never terminates by itself. ``gymnasium.make("edge_rl/IoTEdge-v0")``
    truncates after 100 steps (the card's episode length), set at registration.

    ## Arguments

    ``IoTEdgeEnv(config=None, **overrides)``: an :class:`~edge_rl.config.EnvConfig` and/or
    any of its fields, e.g. ``gym.make("edge_rl/IoTEdge-v0", n_sensors=20, n_fog=8)``.
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, config: EnvConfig | None = None, **overrides: Any) -> None:
        config = config if config is not None else EnvConfig()
        if not isinstance(config, EnvConfig):
            raise TypeError(f"config must be an EnvConfig, got {type(config).__name__}")
        self.config = config.replace(**overrides) if overrides else config
        self.simulator = Simulator(self.config)
        self.topology: Topology = self.simulator.topology
        self.n_nodes, self.max_nodes = self.config.n_nodes, self.config.padded_nodes
        self.encoder = ObservationEncoder(self.simulator, self.max_nodes)
        self.action_space = spaces.Discrete(self.max_nodes)
        self.observation_space = observation_space(self.max_nodes)
        self._state: SimState | None = None  # a batch of one episode, after reset()
        self._node = np.zeros(1, dtype=np.intp)  # the action, as the batch's array of nodes

    # ------------------------------------------------------------------ gymnasium API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        if options:
            raise ValueError(f"IoTEdgeEnv.reset accepts no options, got {sorted(options)}")
        if self._state is None:  # a batch of one, started afresh at every reset
            self._state = self.simulator.new_state(1)
        self.simulator.start(self._state, [self.np_random])
        return self._observation(), {"task": self.simulator.task_info(self._state, 0)}

    def step(
        self, action: int | np.integer | np.ndarray
    ) -> tuple[dict[str, np.ndarray], SupportsFloat, bool, bool, dict[str, Any]]:
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        self._node[0] = self._as_node(action)
        reward, info = self.simulator.step(self._state, self._node, [self.np_random])  # Python scalars
        info["task"] = self.simulator.task_info(self._state, 0)
        return self._observation(), reward, False, False, info

    def action_masks(self) -> np.ndarray:
        """Boolean ``(max_nodes,)``: True for the nodes a task may be placed on."""
        return self.encoder.node_mask.astype(bool)

    def raw_state(self) -> RawState:
        """The simulator's state in raw units, with the current task: what the API's conversion
        (:func:`~edge_rl.serve.conversions.network_state_from_env`) and the checks read."""
        if self._state is None:
            raise RuntimeError("call reset() before raw_state()")
        return self.simulator.raw_state(self._state, 0)

    def raw_nodes(self) -> np.ndarray:
        """``(n_nodes, 7)`` float64: the observation's node columns in raw units, before scaling
        and clipping (:func:`~edge_rl.envs.observation.encode_nodes` turns them into ``nodes``)."""
        if self._state is None:
            raise RuntimeError("call reset() before raw_nodes()")
        return self.encoder.raw_nodes(self._state)[0, : self.n_nodes]

    def _as_node(self, action: int | np.integer | np.ndarray) -> int:
        try:
            node = int(action)
            valid = node == action and 0 <= node < self.n_nodes
        except (TypeError, ValueError):
            valid = False
        if not valid:
            padding = (
                f"; slots {self.n_nodes}..{self.max_nodes - 1} are padding"
                if self.max_nodes > self.n_nodes
                else ""
            )
            raise ValueError(
                f"invalid action {action!r}: the action is a node index, an integer in "
                f"[0, {self.n_nodes - 1}]{padding} (see action_masks())"
            )
        return node

    def _observation(self) -> dict[str, np.ndarray]:
        obs = self.encoder(self._state)
        return {"nodes": obs["nodes"][0], "adjacency": obs["adjacency"][0], "node_mask": obs["node_mask"][0],
                "task": obs["task"][0]}


def make_env(config: EnvConfig | None = None, *, flat: bool = False, **overrides: Any) -> gym.Env:
    """``gymnasium.make("edge_rl/IoTEdge-v0")`` with the 100-step limit.

    ``flat=True`` wraps it in Gymnasium's ``FlattenObservation``: the single float vector
    (nodes, adjacency, mask and task, concatenated) that the card's MLP baselines consume.
    """
    env = gym.make("edge_rl/IoTEdge-v0", config=config, **overrides)
    return gym.wrappers.FlattenObservation(env) if flat else env
